package tether

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// The member splitter is an accelerator for encoding/json, never a second
// opinion: on valid JSON objects it finds the same members (last duplicate
// wins) with the same values.
func TestSplitObjectAgreesWithEncodingJSON(t *testing.T) {
	corpus := []string{
		`{}`, ` { } `, `{"type":"msg","seq":1,"id":"a","data":null}`,
		`{"type" : "hello" , "v" : 1 , "resume" : {"session":"s","resume_token":"t","last_seq":0}}`,
		`{"a":"x\"y","b\\c":[1,{"d":"}]"}],"e":-1.5e3,"f":true,"g":false,"h":null}`,
		`{"dup":1,"dup":2}`, `{"s":"\u00e9\n","n":[[[]]],"o":{"p":{"q":"]"}}}`,
		"{\n\t\"type\":\"ack\",\r\n\"seq\":7\n}", `{"\u0074ype":"escaped key"}`,
		`{"data":{"room":"lobby","text":"hi, {there}"},"type":"msg"}`,
	}
	for _, text := range corpus {
		var want map[string]json.RawMessage
		if err := json.Unmarshal([]byte(text), &want); err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		got, ok := splitObject([]byte(text))
		if !ok {
			t.Fatalf("%s: not split", text)
		}
		seen := map[string]bool{}
		for _, m := range got {
			seen[string(m.key)] = true
		}
		if len(seen) != len(want) {
			t.Fatalf("%s: members %v, want %d", text, got, len(want))
		}
		for k, v := range want {
			g, ok := got.get(k)
			if !ok || !bytes.Equal(compactJSON(g), compactJSON(v)) {
				t.Fatalf("%s: %q = %s, want %s", text, k, g, v)
			}
		}
	}
	for _, notObject := range []string{`[]`, `"x"`, `1`, `null`, ` [{"a":1}]`} {
		if _, ok := splitObject([]byte(notObject)); ok {
			t.Fatalf("%s split as an object", notObject)
		}
	}
	if s, ok := stringOf(json.RawMessage(`"a\u0062\"c"`)); !ok || s != `ab"c` {
		t.Fatalf("stringOf: %q %v", s, ok)
	}
	if _, err := decodeClientFrame([]byte(strings.Repeat(" ", 3) + `{"type":"bye"}`)); err != nil {
		t.Fatal(err)
	}
}
