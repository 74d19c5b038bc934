# Sourced by the project's scripts: keeps every AWS SDK and CLI on this machine away from real
# AWS. Dummy credentials, no instance metadata, no profile files.
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_SESSION_TOKEN=testing
export AWS_EC2_METADATA_DISABLED=true
export AWS_REGION=${AWS_REGION:-eu-west-1}
export AWS_DEFAULT_REGION=$AWS_REGION
export AWS_CONFIG_FILE=/dev/null
export AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_ENDPOINT_URL
export SAM_CLI_TELEMETRY=0
