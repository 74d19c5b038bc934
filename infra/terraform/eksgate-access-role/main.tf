# eksgate access role for one EKS cluster and one access level: the trust policy for the
# session issuer (broker or web-identity mode), eks:DescribeCluster on the cluster, and
# optionally an EKS access entry with the level's access policy. The policy documents come
# from the provider-free ./policies module.

terraform {
  # Preconditions need Terraform 1.2; access entries need the AWS provider 5.33.
  required_version = ">= 1.2"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.33"
    }
  }
}

module "policies" {
  source = "./policies"

  mode                    = var.mode
  cluster_arn             = var.cluster_arn
  access_level            = var.access_level
  issuer_role_arn         = var.issuer_role_arn
  source_identity_pattern = var.source_identity_pattern
  oidc_provider_arn       = var.oidc_provider_arn
  oidc_audience           = var.oidc_audience
}

resource "aws_iam_role" "access" {
  name                 = var.role_name
  path                 = var.role_path
  description          = "eksgate ${var.access_level} access to ${var.cluster_arn}"
  max_session_duration = var.max_session_duration
  assume_role_policy   = module.policies.trust_policy
  tags                 = merge(var.tags, { "eksgate:access-level" = var.access_level })

  lifecycle {
    precondition {
      condition     = var.mode != "broker" || can(regex("^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/.+$", var.issuer_role_arn))
      error_message = "Broker mode needs issuer_role_arn, the eksgate stack output SessionIssuerRoleArn."
    }
    precondition {
      condition     = var.mode == "broker" || (can(regex("^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:oidc-provider/.+$", var.oidc_provider_arn)) && var.oidc_audience != "")
      error_message = "Web-identity mode needs oidc_provider_arn and oidc_audience."
    }
  }
}

resource "aws_iam_role_policy" "describe_cluster" {
  name   = "eksgate-describe-cluster"
  role   = aws_iam_role.access.id
  policy = module.policies.describe_cluster_policy
}

resource "aws_eks_access_entry" "access" {
  count = var.create_access_entry ? 1 : 0

  cluster_name  = module.policies.cluster_name
  principal_arn = aws_iam_role.access.arn
  type          = "STANDARD"
  user_name     = var.access_entry_username == "" ? null : var.access_entry_username
  tags          = var.tags
}

resource "aws_eks_access_policy_association" "access" {
  count = var.create_access_entry ? 1 : 0

  cluster_name  = module.policies.cluster_name
  principal_arn = aws_eks_access_entry.access[0].principal_arn
  policy_arn    = module.policies.access_policy_arn

  access_scope {
    type = "cluster"
  }
}
