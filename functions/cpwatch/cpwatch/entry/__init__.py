"""The entry points and the runs they drive: the `cpwatch` command (cli), the Lambda handlers
(handler: checks; reconcile: discovery's schedules), a scheduled run (pipeline), one look at a
cluster (look, second_opinion), several kubeconfig contexts at once (multicheck). Nothing in the
package imports them."""
