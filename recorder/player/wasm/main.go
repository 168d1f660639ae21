//go:build js && wasm

// Command wasm is the recording player's decoder, compiled to WebAssembly
// (GOOS=js GOARCH=wasm, `make player`) and run by the player page (recorder/player). It plays
// recordings with the same Go code as the rest of the product (recorder/capture,
// recorder/replay through recorder/player/playback): the browser fetches the chunks from S3,
// this program verifies and decodes them and paints frames into the page's canvas.
//
// It sets globalThis.sessionConnectorPlayer to:
//
//	load(listingJSON, fetchChunk) -> Promise<{durationMs, chunks}>
//	    listingJSON is the answer of GET /api/v1/recordings/{session}; fetchChunk(seq) returns
//	    a Promise of the chunk's bytes (Uint8Array), fetched through its presigned URL.
//	seek(ms) -> Promise<{changed, positionMs, width, height, warnings, cancelled}>
//	    moves the picture; a seek cancels the one still running (which answers cancelled).
//	frame(data) -> bool
//	    copies the picture (RGBA, width×height×4) into data, the Uint8ClampedArray of an
//	    ImageData of the size seek answered; false before the desktop has a size.
//	durationMs() -> number
//	keystrokes(bytes) -> {entries: [{ms, text}], error}
//	    reads keystrokes.jsonl; times from the recording's start.
//	prefetch(ms)
//	    fetches the chunks around ms in the background.
//
// and then calls globalThis.sessionConnectorPlayerReady() when the page defined it.
package main

import (
	"context"
	"errors"
	"fmt"
	"image"
	"sync"
	"syscall/js"
	"time"

	"github.com/sessionconnector/sessionconnector/recorder/player/playback"
)

func main() {
	p := &player{}
	api := js.Global().Get("Object").New()
	api.Set("load", js.FuncOf(p.load))
	api.Set("seek", js.FuncOf(p.seek))
	api.Set("frame", js.FuncOf(p.frame))
	api.Set("durationMs", js.FuncOf(p.durationMs))
	api.Set("keystrokes", js.FuncOf(p.keystrokes))
	api.Set("prefetch", js.FuncOf(p.prefetch))
	js.Global().Set("sessionConnectorPlayer", api)
	if ready := js.Global().Get("sessionConnectorPlayerReady"); ready.Type() == js.TypeFunction {
		ready.Invoke()
	}
	select {} // serve the page's calls
}

// player holds the loaded recording. JavaScript calls arrive one at a time; seeks run in
// goroutines, one after another (run), the latest cancelling the one before.
type player struct {
	run    sync.Mutex // held while the Player works
	mu     sync.Mutex // guards the fields below
	p      *playback.Player
	start  time.Time
	cancel context.CancelFunc
	img    *image.RGBA
}

func (pl *player) current() *playback.Player {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.p
}

// load(listingJSON, fetchChunk)
func (pl *player) load(_ js.Value, args []js.Value) any {
	if len(args) < 2 || args[0].Type() != js.TypeString || args[1].Type() != js.TypeFunction {
		return reject(errors.New("load(listingJSON, fetchChunk) wants a string and a function"))
	}
	listing, fetchChunk := args[0].String(), args[1]
	return promise(func() (any, error) {
		opts, err := playback.ParseListing([]byte(listing))
		if err != nil {
			return nil, err
		}
		opts.Fetch = func(_ context.Context, seq uint32) ([]byte, error) {
			v, err := await(fetchChunk.Invoke(seq))
			if err != nil {
				return nil, err
			}
			if !v.InstanceOf(js.Global().Get("Uint8Array")) {
				return nil, fmt.Errorf("fetchChunk(%d) did not give a Uint8Array", seq)
			}
			b := make([]byte, v.Length())
			js.CopyBytesToGo(b, v)
			return b, nil
		}
		// Yield to the browser while a long seek works, so that the page stays responsive.
		opts.Yield = func() { time.Sleep(time.Millisecond) }
		p, err := playback.New(opts)
		if err != nil {
			return nil, err
		}
		pl.run.Lock()
		defer pl.run.Unlock()
		pl.mu.Lock()
		old := pl.p
		pl.p, pl.start, pl.img = p, opts.Start, nil
		pl.mu.Unlock()
		if old != nil {
			old.Close()
		}
		return map[string]any{"durationMs": p.Duration().Milliseconds(), "chunks": len(opts.Chunks)}, nil
	})
}

// seek(ms)
func (pl *player) seek(_ js.Value, args []js.Value) any {
	if len(args) < 1 || args[0].Type() != js.TypeNumber {
		return reject(errors.New("seek(ms) wants a number"))
	}
	at := time.Duration(args[0].Float() * float64(time.Millisecond))
	pl.mu.Lock()
	if pl.cancel != nil {
		pl.cancel()
	}
	ctx, cancel := context.WithCancel(context.Background())
	pl.cancel = cancel
	pl.mu.Unlock()
	return promise(func() (any, error) {
		defer cancel()
		pl.run.Lock()
		defer pl.run.Unlock()
		p := pl.current()
		if p == nil {
			return nil, errors.New("no recording loaded")
		}
		if ctx.Err() != nil {
			return map[string]any{"cancelled": true}, nil
		}
		changed, err := p.Seek(ctx, at)
		cancelled := errors.Is(err, context.Canceled)
		if err != nil && !cancelled {
			return nil, err
		}
		w, h := p.Size()
		warnings := []any{}
		for _, s := range p.Warnings() {
			warnings = append(warnings, s)
		}
		return map[string]any{
			"changed": changed, "cancelled": cancelled, "positionMs": float64(p.Position()) / float64(time.Millisecond),
			"width": w, "height": h, "warnings": warnings,
		}, nil
	})
}

// frame(data)
func (pl *player) frame(_ js.Value, args []js.Value) any {
	if len(args) < 1 {
		return false
	}
	if !pl.run.TryLock() {
		return false // a seek is running: the page draws after it
	}
	defer pl.run.Unlock()
	p := pl.current()
	if p == nil {
		return false
	}
	pl.img = p.Frame(pl.img)
	if pl.img == nil || args[0].Length() != len(pl.img.Pix) {
		return false
	}
	js.CopyBytesToJS(args[0], pl.img.Pix)
	return true
}

func (pl *player) durationMs(js.Value, []js.Value) any {
	if p := pl.current(); p != nil {
		return p.Duration().Milliseconds()
	}
	return 0
}

// keystrokes(bytes)
func (pl *player) keystrokes(_ js.Value, args []js.Value) any {
	out := map[string]any{"entries": []any{}, "error": ""}
	if len(args) < 1 || !args[0].InstanceOf(js.Global().Get("Uint8Array")) {
		out["error"] = "keystrokes(bytes) wants a Uint8Array"
		return out
	}
	b := make([]byte, args[0].Length())
	js.CopyBytesToGo(b, args[0])
	pl.mu.Lock()
	start := pl.start
	pl.mu.Unlock()
	entries, err := playback.Keystrokes(b, start)
	list := make([]any, 0, len(entries))
	for _, e := range entries {
		list = append(list, map[string]any{"ms": e.At.Milliseconds(), "text": e.Text})
	}
	out["entries"] = list
	if err != nil {
		out["error"] = err.Error()
	}
	return out
}

// prefetch(ms)
func (pl *player) prefetch(_ js.Value, args []js.Value) any {
	p := pl.current()
	if p == nil || len(args) < 1 || args[0].Type() != js.TypeNumber {
		return nil
	}
	at := time.Duration(args[0].Float() * float64(time.Millisecond))
	go func() { _ = p.Prefetch(context.Background(), at) }() // a failure shows when the seek needs the chunk
	return nil
}

// promise runs fn in a goroutine and returns a Promise of its result.
func promise(fn func() (any, error)) js.Value {
	executor := js.FuncOf(func(_ js.Value, args []js.Value) any {
		resolve, rejectFn := args[0], args[1]
		go func() {
			v, err := fn()
			if err != nil {
				rejectFn.Invoke(js.Global().Get("Error").New(err.Error()))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	defer executor.Release() // the Promise constructor calls it at once
	return js.Global().Get("Promise").New(executor)
}

func reject(err error) js.Value {
	return js.Global().Get("Promise").Call("reject", js.Global().Get("Error").New(err.Error()))
}

// await waits for a Promise; call it from a goroutine, never from a JavaScript callback.
func await(p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	done := make(chan result, 1)
	onValue := js.FuncOf(func(_ js.Value, args []js.Value) any {
		v := js.Undefined()
		if len(args) > 0 {
			v = args[0]
		}
		done <- result{v: v}
		return nil
	})
	onError := js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := "rejected"
		if len(args) > 0 {
			msg = jsString(args[0])
		}
		done <- result{err: errors.New(msg)}
		return nil
	})
	defer onValue.Release()
	defer onError.Release()
	p.Call("then", onValue, onError)
	r := <-done
	return r.v, r.err
}

func jsString(v js.Value) string {
	if v.Type() == js.TypeObject {
		if m := v.Get("message"); m.Type() == js.TypeString {
			return m.String()
		}
	}
	return v.String()
}
