package logfilter

// Tri is a three-valued truth: whether a filter matches an event of which
// only some fields are known.
type Tri int8

const (
	False   Tri = -1
	Unknown Tri = 0
	True    Tri = 1
)

func (t Tri) String() string {
	switch t {
	case True:
		return "true"
	case False:
		return "false"
	}
	return "unknown"
}

func and(a, b Tri) Tri {
	if a == False || b == False {
		return False
	}
	if a == True && b == True {
		return True
	}
	return Unknown
}

func or(a, b Tri) Tri {
	if a == True || b == True {
		return True
	}
	if a == False && b == False {
		return False
	}
	return Unknown
}

func tri(b bool) Tri {
	if b {
		return True
	}
	return False
}

// Event is what is known of an event: field paths ("eventName",
// "protoPayload.methodName", "detail.eventName") to their values.
// Fields not listed may hold anything.
type Event map[string]string
