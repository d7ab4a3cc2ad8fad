"""The local stack: moto's server as the AWS account, an HTTP front over the real handlers."""
