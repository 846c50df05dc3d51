package store

// historyMigrations are added by the scan history (scheduled scans).
var historyMigrations []string
