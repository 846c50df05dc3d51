// Command decode is the benchmark's floor: it streams the same inventory
// files through encoding/json into map[string]any, one record at a time,
// and does nothing else.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

func main() {
	n := 0
	for _, path := range os.Args[1:] {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if strings.HasSuffix(path, ".ndjson") {
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
			for sc.Scan() {
				var m map[string]any
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				n++
			}
		} else {
			// an AWS Config snapshot: stream configurationItems
			dec := json.NewDecoder(bufio.NewReaderSize(f, 1<<16))
			dec.Token()
			for dec.More() {
				t, _ := dec.Token()
				if t != "configurationItems" {
					var skip json.RawMessage
					dec.Decode(&skip)
					continue
				}
				dec.Token()
				for dec.More() {
					var m map[string]any
					if err := dec.Decode(&m); err != nil {
						fmt.Fprintln(os.Stderr, err)
						os.Exit(1)
					}
					n++
				}
				dec.Token()
			}
		}
		f.Close()
	}
	fmt.Printf("decoded %d records\n", n)
}
