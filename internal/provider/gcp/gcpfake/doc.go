// Package gcpfake is a stateful fake of the Google Cloud APIs vigil's GCP
// provider calls: the Cloud Asset API (an in-process gRPC server with
// long-running operations for ExportAssets) and the Compute Engine, IAM
// and Cloud Storage REST APIs (an httptest server).
//
// The REST side reads the wire, never the Go client's structs: request
// bodies are decoded as raw JSON objects, state is kept as the JSON
// documents the API returns, and the server's documented behaviour is
// applied to them: firewall defaults (priority 1000, direction INGRESS,
// 0.0.0.0/0 when an ingress rule names no source), operations that answer
// RUNNING and take effect only when they are DONE, snapshots that become
// READY some looks after their operation finishes, stop and suspend
// refused without discardLocalSsd on an instance with a Local SSD,
// fingerprints checked (412), requestId de-duplication, and merge-patch
// semantics. Every request is recorded as it came over the wire, so that
// contract tests can check it against Google's discovery documents.
//
// The asset service derives its assets from the same state, so collect ->
// act -> collect shows the change. It must not be imported by the binary.
package gcpfake
