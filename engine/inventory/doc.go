// Package inventory reads asset inventories — Cloud Asset Inventory exports,
// AWS Config snapshots and items, vigil NDJSON and Terraform plans — into the
// shared asset model. Formats are detected from content; records are
// streamed and normalized on all cores, never read whole. It also defines
// the Source and Collector interfaces live collectors implement.
//
// It must not evaluate policies or call clouds.
package inventory
