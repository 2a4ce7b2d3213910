package tether

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The tether.v1 frame codec of the server side: client frames in, server
// frames out. Decoding follows docs/protocol.md §1 and §3.1: one JSON object
// with a string `type`; unknown members ignored; an optional member that is
// null is absent; seqs are plain JSON integers in [0, 2^53); unknown types
// are frameUnknown, never an error.

const (
	maxSeq   = uint64(1) << 53 // seqs are < 2^53
	maxDepth = 64              // nesting of the whole frame
)

type frameKind int

const (
	frameUnknown frameKind = iota
	frameHello
	frameMsg
	frameAck
	frameBye
)

type clientFrame struct {
	kind frameKind
	// hello
	token     string
	hasToken  bool
	resume    bool
	session   string
	resumeTok string
	lastSeq   uint64
	attempt   uint64
	// msg, ack
	seq  uint64
	id   string
	data json.RawMessage
}

// decodeError is a violation: code is the error frame's code (bad_frame or
// protocol_version), detail goes in its message.
type decodeError struct {
	code   string
	detail string
}

func (e *decodeError) Error() string { return e.code + ": " + e.detail }

func badFrame(format string, a ...interface{}) *decodeError {
	return &decodeError{code: codeBadFrame, detail: fmt.Sprintf(format, a...)}
}

// decodeClientFrame decodes one text message. invalid UTF-8 is checked by
// the caller (it closes 1007).
func decodeClientFrame(text []byte) (clientFrame, *decodeError) {
	var f clientFrame
	if !depthOK(text) {
		return f, badFrame("frame: nested deeper than %d", maxDepth)
	}
	if !json.Valid(text) {
		var v interface{}
		err := json.Unmarshal(text, &v) // cold path: only to explain
		return f, badFrame("frame: invalid JSON: %v", err)
	}
	obj, ok := splitObject(text)
	if !ok {
		return f, badFrame("frame: expected object")
	}
	typ, ok := obj.get("type")
	if !ok {
		return f, badFrame("frame.type: missing")
	}
	t, ok := stringOf(typ)
	if !ok {
		return f, badFrame("frame.type: expected string")
	}
	fields := fieldReader{obj: obj, frame: t}
	switch t {
	case "hello":
		f.kind = frameHello
		return f, decodeHello(&f, fields)
	case "msg":
		f.kind = frameMsg
		f.seq = fields.seq("seq")
		if fields.err == nil && f.seq == 0 {
			fields.err = badFrame("msg.seq: must be >= 1")
		}
		f.id = fields.str("id")
		f.data = fields.required("data")
		return f, fields.err
	case "ack":
		f.kind = frameAck
		f.seq = fields.seq("seq")
		return f, fields.err
	case "bye":
		f.kind = frameBye
		return f, nil
	case "welcome", "error":
		return f, badFrame("%s: a client must never send this frame type", t)
	}
	f.kind = frameUnknown
	return f, nil
}

func decodeHello(f *clientFrame, fields fieldReader) *decodeError {
	v, ok := fields.obj.get("v")
	switch {
	case !ok:
		return badFrame("hello.v: missing")
	case !isNumber(v):
		return badFrame("hello.v: expected the integer 1")
	case string(v) != "1":
		return &decodeError{code: codeProtocolVersion, detail: "hello.v: expected the integer 1, got " + string(v)}
	}
	if raw := fields.optional("token"); raw != nil {
		f.token = fields.strOf("token", raw)
		f.hasToken = true
	}
	if raw := fields.optional("client"); raw != nil {
		c, err := fields.object("client", raw)
		if err != nil {
			return err
		}
		c.str("name")
		c.str("version")
		if c.err != nil {
			return c.err
		}
	}
	if raw := fields.optional("resume"); raw != nil {
		r, err := fields.object("resume", raw)
		if err != nil {
			return err
		}
		f.resume = true
		f.session = r.str("session")
		f.resumeTok = r.str("resume_token")
		f.lastSeq = r.seq("last_seq")
		if a := r.optional("attempt"); a != nil {
			f.attempt = r.seqOf("attempt", a)
		}
		if r.err != nil {
			return r.err
		}
	}
	return fields.err
}

// fieldReader reads members of one object; the first failure sticks.
type fieldReader struct {
	obj   rawObject
	frame string
	err   *decodeError
}

func (r *fieldReader) required(key string) json.RawMessage {
	if r.err != nil {
		return nil
	}
	v, ok := r.obj.get(key)
	if !ok {
		r.err = badFrame("%s.%s: missing", r.frame, key)
		return nil
	}
	return v
}

func (r *fieldReader) optional(key string) json.RawMessage {
	v, ok := r.obj.get(key)
	if !ok || string(v) == "null" {
		return nil
	}
	return v
}

func (r *fieldReader) str(key string) string {
	v := r.required(key)
	if v == nil {
		return ""
	}
	return r.strOf(key, v)
}

func (r *fieldReader) strOf(key string, v json.RawMessage) string {
	s, ok := stringOf(v)
	if r.err == nil && !ok {
		r.err = badFrame("%s.%s: expected string", r.frame, key)
	}
	return s
}

func (r *fieldReader) seq(key string) uint64 {
	v := r.required(key)
	if v == nil {
		return 0
	}
	return r.seqOf(key, v)
}

// seqOf accepts a plain JSON integer in [0, 2^53): no fraction, no exponent
// (1.0 and 1e3 are refused), -0 is 0.
func (r *fieldReader) seqOf(key string, v json.RawMessage) uint64 {
	if r.err != nil {
		return 0
	}
	if !isNumber(v) {
		r.err = badFrame("%s.%s: expected an integer in [0, 2^53)", r.frame, key)
		return 0
	}
	s := string(v)
	if s == "-0" {
		return 0
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n >= maxSeq {
		r.err = badFrame("%s.%s: expected an integer in [0, 2^53), got %s", r.frame, key, s)
		return 0
	}
	return n
}

func (r *fieldReader) object(key string, v json.RawMessage) (fieldReader, *decodeError) {
	obj, ok := splitObject(v)
	if !ok {
		return fieldReader{}, badFrame("%s.%s: expected object", r.frame, key)
	}
	return fieldReader{obj: obj, frame: r.frame + "." + key}, nil
}

func isString(v json.RawMessage) bool { return len(v) > 0 && v[0] == '"' }

// ---- the member splitter: valid JSON in (json.Valid said so), spans out

// rawObject is an object's members as spans of the frame, in order.
type rawObject []rawMember

type rawMember struct {
	key []byte // unescaped
	val json.RawMessage
}

// get returns the member's value; of duplicate keys the last wins.
func (o rawObject) get(key string) (json.RawMessage, bool) {
	for i := len(o) - 1; i >= 0; i-- {
		if string(o[i].key) == key {
			return o[i].val, true
		}
	}
	return nil, false
}

// splitObject splits valid JSON text that is an object into its members
// without decoding the values; false if it is not an object.
func splitObject(b []byte) (rawObject, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	out := make(rawObject, 0, 6)
	i = skipSpace(b, i+1)
	if b[i] == '}' {
		return out, true
	}
	for {
		i = skipSpace(b, i)
		end := skipValue(b, i) // the key, a string
		key := b[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var k string
			_ = json.Unmarshal(b[i:end], &k)
			key = []byte(k)
		}
		i = skipSpace(b, end) + 1 // ':'
		i = skipSpace(b, i)
		end = skipValue(b, i)
		out = append(out, rawMember{key: key, val: b[i:end]})
		i = skipSpace(b, end)
		if b[i] != ',' {
			return out, true // '}'
		}
		i++
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index after the value that starts at i.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		for i++; ; i++ {
			if b[i] == '\\' {
				i++
			} else if b[i] == '"' {
				return i + 1
			}
		}
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch b[i] {
			case '"':
				i = skipValue(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(b) && !strings.ContainsRune(",}] \t\r\n", rune(b[i])) {
		i++
	}
	return i
}

// stringOf decodes a JSON string value (without escapes: a plain copy).
func stringOf(v json.RawMessage) (string, bool) {
	if !isString(v) {
		return "", false
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1]), true
	}
	var s string
	return s, json.Unmarshal(v, &s) == nil
}

func isNumber(v json.RawMessage) bool {
	return len(v) > 0 && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9'))
}

// depthOK scans bracket nesting outside strings before any parse, so a
// 100,000-deep array costs one pass and no allocation.
func depthOK(text []byte) bool {
	depth := 0
	inString, escaped := false, false
	for _, c := range text {
		switch {
		case inString:
			if escaped {
				escaped = false
			} else if c == '\\' {
				escaped = true
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			if depth > maxDepth {
				return false
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return true
}

// validText is the WebSocket rule for text messages.
func validText(text []byte) bool { return utf8.Valid(text) }

// ---- encoding (server frames); buffers are appended to, never shared

func appendQuoted(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

func appendMsg(b []byte, m OutboundMsg) []byte {
	b = append(b, `{"type":"msg","seq":`...)
	b = strconv.AppendUint(b, m.Seq, 10)
	if m.HasID {
		b = append(b, `,"id":`...)
		b = appendQuoted(b, m.ID)
	}
	b = append(b, `,"data":`...)
	b = append(b, m.Data...)
	return append(b, '}')
}

func appendAck(b []byte, seq uint64) []byte {
	b = append(b, `{"type":"ack","seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	return append(b, '}')
}

type welcomeFrame struct {
	Type         string `json:"type"`
	Session      string `json:"session"`
	ResumeToken  string `json:"resume_token"`
	Resumed      bool   `json:"resumed"`
	LastSeq      uint64 `json:"last_seq"`
	HeartbeatMs  uint64 `json:"heartbeat_ms,omitempty"`
	SessionTTLMs uint64 `json:"session_ttl_ms"`
}

type errorFrame struct {
	Type         string  `json:"type"`
	Code         string  `json:"code"`
	Message      string  `json:"message,omitempty"`
	RetryAfterMs *uint64 `json:"retry_after_ms,omitempty"`
}

func encodeError(code, message string, retryAfterMs *uint64) []byte {
	b, _ := json.Marshal(errorFrame{Type: "error", Code: code, Message: message, RetryAfterMs: retryAfterMs})
	return b
}

// compactJSON returns data with insignificant whitespace removed (it is
// already valid JSON).
func compactJSON(data []byte) json.RawMessage {
	if bytes.IndexAny(data, " \t\r\n") < 0 {
		return data
	}
	var buf bytes.Buffer
	if json.Compact(&buf, data) != nil {
		return data
	}
	return buf.Bytes()
}
