// Package devnode is a stand-in for the kubelet in local development ONLY.
// It must never run in production, on a shared machine, or anywhere a pod
// spec could come from someone you do not trust.
//
// `make dev` runs a real control plane but no kubelet and no container
// engine, so nothing would ever run the tenant runtime's pods. devnode
// registers a Node (through virtual-kubelet's node package) and runs each pod
// bound to it as plain processes of the developer's user, on 127.0.0.1:
//
//   - An image is not pulled: Options.Images maps it to a local command.
//     Containers whose image is not in the map stay Waiting (ErrImageNeverPull).
//   - There is no isolation whatsoever: no namespaces, cgroups, seccomp,
//     users (runAsUser is ignored), read-only root filesystem, resource
//     limits or network policy. Every process sees the whole machine.
//   - Every pod gets the IP 127.0.0.1. A container that takes
//     SWITCHBOARD_LISTEN_ADDR is moved to a free loopback port, and its
//     matching container port is mapped there for probes and for the
//     IngressProxy; other ports are used as they are.
//   - Projected ServiceAccount tokens are real (TokenRequest, bound to the
//     pod) and are written under Options.StateDir; environment values and
//     arguments that point into a volume's mountPath are rewritten to the
//     local copy. emptyDir volumes are per-pod directories; TMPDIR points at
//     /tmp's. Other volume types, init containers, exec probes, $(VAR)
//     expansion and env valueFrom other than a few fieldRefs are not
//     supported (a warning is logged).
//   - There is no kubelet API: kubectl logs, exec and port-forward do not
//     work. Logs are in Options.LogDir.
//   - Processes get the pod's env, Options.ExtraEnv, PATH, and a per-pod
//     HOME and TMPDIR; nothing else from the dev process's environment, so
//     a developer's VAULT_TOKEN or KUBECONFIG never reaches a tenant.
//
// IngressProxy stands in for an ingress controller the same way: it routes
// by Host header through Ingresses and Services to the node's ready pods.
//
// Each command runs in its own process group with a parent-death signal: it
// ends when the dev process ends, even if that crashes (the command's own
// children are only reached by a clean Stop, through the group).
package devnode
