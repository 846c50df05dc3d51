// Package contract checks REST requests against Google's published API
// descriptions, the discovery documents of Compute Engine v1, IAM v1 and
// Cloud Storage v1 (trimmed copies under testdata, with their source and
// licence): the method and path exist, required query parameters are
// there, every body field exists in the schema with the right type and is
// not output-only, and the fields vigil means to set are in the JSON even
// when they are zero values (the Go clients drop those unless they are in
// ForceSendFields).
//
// The tests of the GCP provider, the CLI and the binary run it over the
// requests gcpfake recorded. It is test support: the binary must not
// import it.
package contract
