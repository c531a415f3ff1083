"""Checks of template.yaml: cfn-lint, IAM policy rules, resource wiring, checkov."""
