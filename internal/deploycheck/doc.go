// Package deploycheck keeps the Kubernetes examples valid: it makes the
// strict JSON schemas of the kinds they use (shipped under
// testdata/kubernetes, so CI needs no network), and its tests validate
// examples/deploy/kubernetes against them with kubeconform.
package deploycheck
