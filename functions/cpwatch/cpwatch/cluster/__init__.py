"""Talking to a cluster: the deadline-bounded HTTP client (kubeapi), connecting from a kubeconfig or
an EKS endpoint (connect, kubeconfig, exec_credentials, clientcert) and reading a serving
certificate (servingcert). Called by aws/eks_connect.py, the probes and entry/ (CLI and handler)."""
