package watch

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// InFlightFile is the notifier's in-flight log in the watch's directory.
const InFlightFile = "notify-inflight.log"

// inflightLog is what the notifier writes around every webhook post, so
// that after a crash it knows which notifications are in doubt: a line
//
//	post KEY BLOCK EVENT   before the request goes out,
//	ok KEY                 the moment the webhook's 2xx is read,
//	no KEY                 the moment another answer is read (not accepted),
//	done EVENT             once the event's marks are in the store.
//
// Each line is one write(2) to a file opened O_APPEND, with no fsync: the
// kernel keeps it when vigil dies (SIGKILL, OOM, a panic), so the window
// in which a post is accepted but not known to be is the time from the
// webhook writing its answer to vigil reading it, not the time a store
// commit waits for its turn. The store's marks follow: a post known
// accepted whose mark did not land is marked after a restart (or on the
// retry), not sent again. A post whose last line is its "post" is in
// doubt: the webhook may or may not have it, so it is sent again, with the
// same Idempotency-Key. A power cut can lose the last lines too, and so
// resend what they recorded: at least once all the same, with the key.
//
// The notifier handles one event at a time, so once an event is done
// everything before it is settled: the file is emptied then, when it grew
// past inflightCompactAt.
type inflightLog struct {
	f    *os.File
	size int64
	// accepted are the keys whose 2xx was read, by event, until the
	// event is done; inDoubt the posts sent with no answer read (by a
	// previous process, or by this one when the request failed), until
	// they are answered or their event is done.
	accepted map[string]string
	inDoubt  map[string]inflightPost
}

// inflightPost is one post line.
type inflightPost struct{ Key, Block, Event string }

const inflightCompactAt = 256 << 10

// openInflight opens (creating) the in-flight log and reads what a
// previous process left in it.
func openInflight(path string) (*inflightLog, error) {
	raw, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	l := &inflightLog{f: f, size: int64(len(raw))}
	l.accepted, l.inDoubt = parseInflight(raw)
	return l, nil
}

// parseInflight reads an in-flight log: the keys accepted (with their
// event) and the posts in doubt of the events not done. A line cut short
// is ignored.
func parseInflight(raw []byte) (accepted map[string]string, inDoubt map[string]inflightPost) {
	accepted, inDoubt = map[string]string{}, map[string]inflightPost{}
	posts := map[string]inflightPost{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		switch {
		case f[0] == "post" && len(f) == 4:
			p := inflightPost{Key: f[1], Block: f[2], Event: f[3]}
			posts[p.Key] = p
			if _, ok := accepted[p.Key]; !ok {
				inDoubt[p.Key] = p
			}
		case f[0] == "ok" && len(f) == 2:
			if p, ok := posts[f[1]]; ok {
				accepted[f[1]] = p.Event
				delete(inDoubt, f[1])
			}
		case f[0] == "no" && len(f) == 2:
			delete(inDoubt, f[1])
		case f[0] == "done" && len(f) == 2:
			for k, ev := range accepted {
				if ev == f[1] {
					delete(accepted, k)
				}
			}
			for k, p := range inDoubt {
				if p.Event == f[1] {
					delete(inDoubt, k)
				}
			}
		}
	}
	return accepted, inDoubt
}

// InDoubt reads an in-flight log and returns the Idempotency-Keys of the
// posts in doubt: sent, with no answer read before the process ended. It
// is what a restart sends again (bench/watchload reads it too).
func InDoubt(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	_, in := parseInflight(raw)
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	return keys, nil
}

func (l *inflightLog) write(fields ...string) error {
	n, err := l.f.WriteString(strings.Join(fields, "\t") + "\n")
	l.size += int64(n)
	return err
}

// posting records a post about to go out.
func (l *inflightLog) posting(p inflightPost) error {
	for _, s := range []string{p.Key, p.Block, p.Event} {
		if s == "" || strings.ContainsAny(s, "\t\n") {
			return fmt.Errorf("in-flight log: %q is empty or has a tab or a newline", s)
		}
	}
	l.inDoubt[p.Key] = p // until an answer is read
	return l.write("post", p.Key, p.Block, p.Event)
}

// answered records the webhook's answer to a post: accepted (2xx) or not.
func (l *inflightLog) answered(p inflightPost, status int) error {
	delete(l.inDoubt, p.Key)
	if status >= 200 && status < 300 {
		l.accepted[p.Key] = p.Event
		return l.write("ok", p.Key)
	}
	return l.write("no", p.Key)
}

// done records that an event's marks are in the store: what the log says
// of it is settled, and, as events are done one at a time, so is
// everything before it.
func (l *inflightLog) done(event string) error {
	l.forget(func(ev string) bool { return ev == event })
	if l.size >= inflightCompactAt && len(l.accepted) == 0 && len(l.inDoubt) == 0 {
		if err := l.f.Truncate(0); err != nil {
			return err
		}
		l.size = 0
		return nil
	}
	return l.write("done", event)
}

// forget drops what the log says of the events drop selects.
func (l *inflightLog) forget(drop func(event string) bool) {
	for k, ev := range l.accepted {
		if drop(ev) {
			delete(l.accepted, k)
		}
	}
	for k, p := range l.inDoubt {
		if drop(p.Event) {
			delete(l.inDoubt, k)
		}
	}
}

func (l *inflightLog) close() error { return l.f.Close() }
