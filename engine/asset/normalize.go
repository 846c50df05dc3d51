package asset

import (
	"fmt"
	"strconv"
	"strings"
)

// Region normalizes a location to a lower-case region: a GCP zone
// ("us-central1-c") or AWS availability zone ("us-east-1b") becomes its
// region, a multi-region ("EU", "US") is lower-cased, and an empty location
// is "global".
func Region(location string) string {
	loc := strings.ToLower(strings.TrimSpace(location))
	if i := strings.LastIndexByte(loc, '/'); i >= 0 { // a zone or region URL
		loc = loc[i+1:]
	}
	switch loc {
	case "", "global", "not applicable", "regional", "multiple availability zones":
		return "global"
	}
	if r, ok := gcpZoneRegion(loc); ok {
		return r
	}
	if r, ok := awsZoneRegion(loc); ok {
		return r
	}
	return loc
}

// gcpZoneRegion strips the zone letter of a GCP zone: "us-central1-c".
func gcpZoneRegion(z string) (string, bool) {
	parts := strings.Split(z, "-")
	if len(parts) != 3 || len(parts[2]) != 1 || !isLower(parts[2][0]) {
		return "", false
	}
	// the middle part ends with a digit: "central1", "west4"
	mid := parts[1]
	if mid == "" || !isDigit(mid[len(mid)-1]) {
		return "", false
	}
	return parts[0] + "-" + parts[1], true
}

// awsZoneRegion strips the zone letter of an AWS availability zone:
// "us-east-1b", "us-gov-west-1a".
func awsZoneRegion(z string) (string, bool) {
	n := len(z)
	if n < 3 || !isLower(z[n-1]) || !isDigit(z[n-2]) {
		return "", false
	}
	parts := strings.Split(z[:n-1], "-")
	if len(parts) < 3 {
		return "", false
	}
	if _, err := strconv.Atoi(parts[len(parts)-1]); err != nil {
		return "", false
	}
	return z[:n-1], true
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// NetworkID normalizes a network reference to the form approved_networks
// uses: GCP "projects/P/global/networks/N" from a selfLink, a CAI name or a
// partial URL; AWS VPC ids are returned unchanged.
func NetworkID(ref string) string {
	ref = strings.TrimSpace(ref)
	if i := strings.Index(ref, "projects/"); i >= 0 && strings.Contains(ref, "/networks/") {
		return ref[i:]
	}
	return ref
}

// ParsePorts parses GCP-style port specifications ("22", "1000-2000").
func ParsePorts(specs []string) ([]PortRange, error) {
	out := make([]PortRange, 0, len(specs))
	for _, s := range specs {
		r, err := ParsePortRange(s)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// ParsePortRange parses "22" or "1000-2000".
func ParsePortRange(s string) (PortRange, error) {
	s = strings.TrimSpace(s)
	lo, hi, isRange := strings.Cut(s, "-")
	from, err := strconv.Atoi(lo)
	if err != nil {
		return PortRange{}, fmt.Errorf("parse port %q: not a number", s)
	}
	to := from
	if isRange {
		if to, err = strconv.Atoi(hi); err != nil {
			return PortRange{}, fmt.Errorf("parse port range %q: not a number", s)
		}
	}
	if from < 0 || to > 65535 || from > to {
		return PortRange{}, fmt.Errorf("parse port range %q: out of range", s)
	}
	return PortRange{From: from, To: to}, nil
}

// Protocol normalizes a protocol name or number: AWS "-1" and GCP "all"
// become "all"; well-known numbers become names.
func Protocol(p string) string {
	p = strings.ToLower(strings.TrimSpace(p))
	switch p {
	case "-1", "all", "":
		return "all"
	case "6":
		return "tcp"
	case "17":
		return "udp"
	case "1":
		return "icmp"
	case "58":
		return "icmpv6"
	case "132":
		return "sctp"
	}
	return p
}

// CarriesPorts says whether a protocol has ports, so that a rule with no port
// list opens all of them.
func CarriesPorts(protocol string) bool {
	switch protocol {
	case "tcp", "udp", "sctp", "all":
		return true
	}
	return false
}

// AllPorts is the range a rule without port restriction opens.
var AllPorts = []PortRange{{From: 0, To: 65535}}
