# The policy documents and names of an eksgate access role, computed without any provider so
# that they can be evaluated and tested offline. The parent module creates the resources.

terraform {
  required_version = ">= 1.0"
}

variable "mode" {
  description = "broker or web-identity."
  type        = string
}

variable "cluster_arn" {
  description = "ARN of the EKS cluster."
  type        = string
}

variable "access_level" {
  description = "admin or read-only."
  type        = string
}

variable "issuer_role_arn" {
  description = "Broker mode: the session issuer's role."
  type        = string
}

variable "source_identity_pattern" {
  description = "Broker mode: an optional StringLike pattern for sts:SourceIdentity, empty for none."
  type        = string
}

variable "oidc_provider_arn" {
  description = "Web-identity mode: the IAM OIDC provider."
  type        = string
}

variable "oidc_audience" {
  description = "Web-identity mode: the client ID in the tokens' aud."
  type        = string
}

locals {
  is_broker = var.mode == "broker"

  # arn:<partition>:eks:<region>:<account>:cluster/<name>
  cluster_arn_fields = split(":", var.cluster_arn)

  # The condition key of the token audience is <issuer host and path>:aud.
  oidc_issuer = local.is_broker ? "" : element(split("oidc-provider/", var.oidc_provider_arn), 1)

  access_policy_name = var.access_level == "admin" ? "AmazonEKSClusterAdminPolicy" : "AmazonEKSViewPolicy"

  broker_statement = {
    Sid       = "EksgateBroker"
    Effect    = "Allow"
    Principal = { AWS = var.issuer_role_arn }
    Action    = ["sts:AssumeRole", "sts:SetSourceIdentity"]
  }

  # Each document is encoded on its own: a conditional between objects with different
  # attributes is a type error in Terraform, one between strings is not.
  broker_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [local.broker_statement]
  })

  broker_policy_with_condition = jsonencode({
    Version = "2012-10-17"
    Statement = [merge(local.broker_statement, {
      Condition = { StringLike = { "sts:SourceIdentity" = var.source_identity_pattern } }
    })]
  })

  web_identity_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "EksgateWebIdentity"
      Effect    = "Allow"
      Principal = { Federated = var.oidc_provider_arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = { StringEquals = { ("${local.oidc_issuer}:aud") = var.oidc_audience } }
    }]
  })
}

output "trust_policy" {
  description = "The trust policy (AssumeRolePolicyDocument) as JSON."
  value = (
    !local.is_broker ? local.web_identity_policy :
    var.source_identity_pattern == "" ? local.broker_policy : local.broker_policy_with_condition
  )
}

output "describe_cluster_policy" {
  description = "The inline policy that allows eks:DescribeCluster on the cluster, as JSON."
  value = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "DescribeCluster"
      Effect   = "Allow"
      Action   = "eks:DescribeCluster"
      Resource = var.cluster_arn
    }]
  })
}

output "partition" {
  description = "The cluster's partition, such as aws."
  value       = local.cluster_arn_fields[1]
}

output "account" {
  description = "The cluster's account."
  value       = local.cluster_arn_fields[4]
}

output "cluster_name" {
  description = "The cluster's name."
  value       = split("cluster/", var.cluster_arn)[1]
}

output "access_policy_arn" {
  description = "The EKS access policy of the access level."
  value       = "arn:${local.cluster_arn_fields[1]}:eks::aws:cluster-access-policy/${local.access_policy_name}"
}
