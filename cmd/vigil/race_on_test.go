//go:build race

package main

// raceEnabled: under the race detector, the longer tests do fewer rounds.
const raceEnabled = true
