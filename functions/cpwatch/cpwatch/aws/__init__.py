"""cpwatch's AWS side, one module per job.

clients: the bounded default client factory and region checks; call_errors: the one mapping of
botocore exceptions to cpwatch errors; redaction: what a secret looks like and its removal;
eks_token: the EKS bearer token and its cache; role_chain: AssumeRole and its cache;
eks_cluster: DescribeCluster as a ClusterInfo; eks_connect: all of them together -> KubeApi;
vended_metrics: EKS's AWS/EKS metrics (GetMetricData); control_plane_logs: a component's
control-plane log lines (FilterLogEvents).
"""
