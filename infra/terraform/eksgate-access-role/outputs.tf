output "role_arn" {
  description = "The role ARN with its path. The issuer assumes it, and access entries name it."
  value       = aws_iam_role.access.arn
}

output "role_name" {
  description = "The role name."
  value       = aws_iam_role.access.name
}

output "mapped_role_arn" {
  description = "The role ARN without path, which an aws-auth mapRoles entry must name because aws-iam-authenticator drops the path."
  value       = "arn:${module.policies.partition}:iam::${module.policies.account}:role/${aws_iam_role.access.name}"
}

output "role_tag_value" {
  description = "Value for the cluster's role tag, such as opal:eks:role:admin=<this value>."
  value       = "${trimprefix(var.role_path, "/")}${aws_iam_role.access.name}"
}

output "access_entry_policy_arn" {
  description = "The access policy associated with the role, or null without an access entry."
  value       = var.create_access_entry ? aws_eks_access_policy_association.access[0].policy_arn : null
}
