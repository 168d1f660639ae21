// Package chart tests the two ways of installing the operator: the Helm chart in
// charts/session-connector and the kustomize layers in config/. Both are rendered in-process
// (the Helm and kustomize libraries pinned in go.mod) and every rendered object is sent to a real
// kube-apiserver (test/kubeenv) as a server-side dry run.
package chart
