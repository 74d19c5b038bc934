variable "mode" {
  description = "The AssumeMode of the eksgate stack: broker trusts issuer_role_arn, web-identity trusts oidc_provider_arn for tokens whose aud is oidc_audience."
  type        = string
  default     = "broker"

  validation {
    condition     = contains(["broker", "web-identity"], var.mode)
    error_message = "The mode must be broker or web-identity."
  }
}

variable "cluster_arn" {
  description = "ARN of the EKS cluster, in the account of the AWS provider."
  type        = string

  validation {
    condition     = can(regex("^arn:aws(-cn|-us-gov)?:eks:[a-z0-9-]+:[0-9]{12}:cluster/[0-9A-Za-z][A-Za-z0-9_-]*$", var.cluster_arn))
    error_message = "The cluster_arn must look like arn:aws:eks:eu-west-1:111122223333:cluster/prod."
  }
}

variable "access_level" {
  description = "admin maps the role to AmazonEKSClusterAdminPolicy, read-only to AmazonEKSViewPolicy (only with create_access_entry)."
  type        = string
  default     = "read-only"

  validation {
    condition     = contains(["admin", "read-only"], var.access_level)
    error_message = "The access_level must be admin or read-only."
  }
}

variable "role_name" {
  description = "Name of the role, such as prod-eksgate-admin."
  type        = string

  validation {
    condition     = can(regex("^[[:alnum:]_+=,.@-]{1,64}$", var.role_name))
    error_message = "The role_name must be 1 to 64 letters, digits and _+=,.@- characters."
  }
}

variable "role_path" {
  description = "IAM path of the role. The eksgate stack's default AccessRoleArns lets the broker-mode issuer assume only roles under /eksgate/."
  type        = string
  default     = "/eksgate/"

  validation {
    condition     = can(regex("^/$|^/[!-~]+/$", var.role_path))
    error_message = "The role_path must be / or start and end with /, such as /eksgate/."
  }
}

variable "issuer_role_arn" {
  description = "Broker mode only. The eksgate stack output SessionIssuerRoleArn."
  type        = string
  default     = ""
}

variable "source_identity_pattern" {
  description = "Broker mode only, optional. A StringLike pattern that sts:SourceIdentity (the user's session name) must match, such as *@example.com. Empty for no condition."
  type        = string
  default     = ""
}

variable "oidc_provider_arn" {
  description = "Web-identity mode only. The IAM OIDC provider of the identity provider, in the cluster's account, such as arn:aws:iam::111122223333:oidc-provider/idp.example.com/oauth2/default."
  type        = string
  default     = ""
}

variable "oidc_audience" {
  description = "Web-identity mode only. The client ID that the tokens carry in aud."
  type        = string
  default     = ""
}

variable "max_session_duration" {
  description = "Longest session in seconds, 3600 to 43200. Broker-mode sessions last at most 3600 because STS caps chained role sessions."
  type        = number
  default     = 3600

  validation {
    condition     = var.max_session_duration >= 3600 && var.max_session_duration <= 43200
    error_message = "The max_session_duration must be 3600 to 43200 seconds."
  }
}

variable "create_access_entry" {
  description = "Create an EKS access entry with the level's access policy for the whole cluster. The cluster's authentication mode must be API or API_AND_CONFIG_MAP."
  type        = bool
  default     = false
}

variable "access_entry_username" {
  description = "Optional Kubernetes username of the access entry, such as eksgate:{{SessionName}}. Empty lets EKS choose arn:<partition>:sts::<account>:assumed-role/<role>/{{SessionName}}."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Tags for the role and the access entry."
  type        = map(string)
  default     = {}
}
