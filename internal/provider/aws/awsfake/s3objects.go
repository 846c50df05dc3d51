package awsfake

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// s3Object serves the object operations of the S3 REST API, path-style:
// PutObject (PUT /bucket/key, honouring If-None-Match: *), GetObject
// (GET /bucket/key) and ListObjectsV2 (GET /bucket?list-type=2). It
// reports whether the request was one of them.
func (f *Fake) s3Object(req *request) bool {
	path := strings.TrimPrefix(req.r.URL.Path, "/")
	bucket, key, hasKey := strings.Cut(path, "/")
	q := req.r.URL.Query()
	switch {
	case hasKey && key != "" && req.r.Method == http.MethodPut:
		req.op = "PutObject"
	case hasKey && key != "" && req.r.Method == http.MethodGet:
		req.op = "GetObject"
	case (!hasKey || key == "") && req.r.Method == http.MethodGet && q.Get("list-type") == "2":
		req.op = "ListObjectsV2"
	default:
		return false
	}
	fail := func(status int, code, msg string) {
		req.status = status
		req.w.Header().Set("Content-Type", "application/xml")
		req.w.WriteHeader(status)
		var b xb
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Error>`)
		b.el("Code", code)
		b.el("Message", msg)
		b.el("RequestId", requestID(req))
		b.WriteString(`</Error>`)
		req.w.Write([]byte(b.String()))
	}
	switch f.fault(req) {
	case "throttle":
		fail(http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
		return true
	case "denied":
		fail(http.StatusForbidden, "AccessDenied", "Access Denied")
		return true
	}
	bk := req.account.Buckets[bucket]
	if bk == nil {
		fail(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
		return true
	}
	switch req.op {
	case "PutObject":
		body, err := payload(req)
		if err != nil {
			fail(http.StatusBadRequest, "IncompleteBody", err.Error())
			return true
		}
		if _, exists := bk.Objects[key]; exists && req.r.Header.Get("If-None-Match") == "*" {
			fail(http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
			return true
		}
		if bk.Objects == nil {
			bk.Objects = map[string][]byte{}
		}
		bk.Objects[key] = body
		sum := md5.Sum(body)
		req.w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
		req.w.WriteHeader(http.StatusOK)
	case "GetObject":
		body, ok := bk.Objects[key]
		if !ok {
			fail(http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
			return true
		}
		sum := md5.Sum(body)
		req.w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
		if strings.EqualFold(req.r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") {
			// S3 keeps the object's CRC32 and returns it when asked.
			var crc [4]byte
			binary.BigEndian.PutUint32(crc[:], crc32.ChecksumIEEE(body))
			req.w.Header().Set("X-Amz-Checksum-Crc32", base64.StdEncoding.EncodeToString(crc[:]))
		}
		req.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		req.w.Header().Set("Content-Type", "application/octet-stream")
		req.w.Write(body)
	case "ListObjectsV2":
		prefix := q.Get("prefix")
		max := 1000
		if m, err := strconv.Atoi(q.Get("max-keys")); err == nil && m >= 0 && m < max {
			max = m
		}
		// With a delimiter, keys that hold it after the prefix are rolled up
		// into one CommonPrefixes entry each (the key up to and including the
		// delimiter); keys and common prefixes together count to max-keys.
		delim := q.Get("delimiter")
		var all []string
		for k := range bk.Objects {
			if strings.HasPrefix(k, prefix) {
				all = append(all, k)
			}
		}
		slices.Sort(all)
		after := q.Get("start-after")
		if tok := q.Get("continuation-token"); tok > after {
			after = tok
		}
		type listed struct {
			name   string
			common bool
		}
		var page []listed
		for _, k := range all {
			e := listed{name: k}
			if delim != "" {
				if i := strings.Index(k[len(prefix):], delim); i >= 0 {
					e = listed{name: k[:len(prefix)+i+len(delim)], common: true}
				}
			}
			if e.name <= after || (len(page) > 0 && page[len(page)-1] == e) {
				continue
			}
			page = append(page, e)
		}
		truncated := len(page) > max
		if truncated {
			page = page[:max]
		}
		var keys, common []string
		for _, e := range page {
			if e.common {
				common = append(common, e.name)
			} else {
				keys = append(keys, e.name)
			}
		}
		last := ""
		if len(page) > 0 {
			last = page[len(page)-1].name
		}
		var b xb
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
		b.el("Name", bucket)
		b.el("Prefix", prefix)
		b.int("KeyCount", len(page)) // keys and common prefixes, as S3 counts
		b.int("MaxKeys", max)
		b.bool("IsTruncated", truncated)
		if delim != "" {
			b.el("Delimiter", delim)
		}
		if truncated {
			// the token is the last key (or common prefix) returned: the next
			// page starts after it
			b.el("NextContinuationToken", last)
		}
		for _, k := range keys {
			sum := md5.Sum(bk.Objects[k])
			b.open("Contents")
			b.el("Key", k)
			b.el("LastModified", bk.Created.UTC().Format(time.RFC3339))
			b.el("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
			b.int("Size", len(bk.Objects[k]))
			b.el("StorageClass", "STANDARD")
			b.close("Contents")
		}
		for _, c := range common {
			b.open("CommonPrefixes")
			b.el("Prefix", c)
			b.close("CommonPrefixes")
		}
		b.WriteString(`</ListBucketResult>`)
		req.w.Header().Set("Content-Type", "application/xml")
		req.w.Write([]byte(b.String()))
	}
	return true
}

// payload is a PutObject body: as sent, or decoded from the aws-chunked
// encoding SDKs use to stream a body with a trailing checksum.
func payload(req *request) ([]byte, error) {
	enc := req.r.Header.Get("Content-Encoding")
	sha := req.r.Header.Get("X-Amz-Content-Sha256")
	if !strings.Contains(enc, "aws-chunked") && !strings.HasPrefix(sha, "STREAMING-") {
		return req.body, nil
	}
	var out bytes.Buffer
	rd := bufio.NewReader(bytes.NewReader(req.body))
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("aws-chunked body: %w", err)
		}
		sizeHex, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		size, err := strconv.ParseInt(sizeHex, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("aws-chunked body: chunk size %q", sizeHex)
		}
		if size == 0 {
			return out.Bytes(), nil // trailers (the checksum) follow
		}
		chunk := make([]byte, size)
		if _, err := io.ReadFull(rd, chunk); err != nil {
			return nil, fmt.Errorf("aws-chunked body: %w", err)
		}
		out.Write(chunk)
		if _, err := rd.ReadString('\n'); err != nil {
			return nil, fmt.Errorf("aws-chunked body: %w", err)
		}
	}
}
