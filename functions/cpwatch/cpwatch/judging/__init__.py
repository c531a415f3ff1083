"""Judging: the probes' findings -> one diagnosis (check runs the probes and calls diagnosis;
explanations decides which symptoms a seen cause explains; wedged counts leaders that renew but
do not work, run after run; vended_rules reads EKS's AWS/EKS metrics). Called by entry/ (a
look, the CLI, a scheduled run); imports only the layers below it."""
