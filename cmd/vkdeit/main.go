// Command vkdeit classifies images with DeiT vision transformers, on a GPU
// through Vulkan compute shaders, on the CPU with SIMD kernels, or with the
// float64 reference that checks them.
//
//	vkdeit classify photo.jpg             top-5 labels (downloads the default model once)
//	vkdeit classify --format csv dir/     one CSV row per image
//	vkdeit embed --format npy -o e.npy d/ image embeddings
//	vkdeit download facebook/deit-base-distilled-patch16-224
//	vkdeit devices                        Vulkan devices and the CPU engine; * marks what auto runs
//	vkdeit verify                         an engine against the float64 reference
//	vkdeit bench --device gpu,cpu         latency, throughput, per-kernel times
//
// Run "vkdeit help COMMAND" for a command's flags and examples. The command
// is a thin layer over the deit, bench and loader packages: it parses flags,
// prints, and turns errors into one "vkdeit: ..." line and an exit status.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/vkdeit/vkdeit/internal/version"
)

func main() {
	e := newEnv(os.Stdin, os.Stdout, os.Stderr)
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		cancel(interrupted{s})
		// The command stops at its next context check. Should it be stuck
		// in a system call, a second signal or a grace period ends the
		// process anyway, after removing partial output files.
		select {
		case <-sigs:
		case <-time.After(e.graceAfterSignal()):
		}
		e.cleanup()
		fmt.Fprintf(os.Stderr, "vkdeit: %v\n", interrupted{s})
		os.Exit(interrupted{s}.code())
	}()
	os.Exit(e.run(ctx, os.Args[1:]))
}

// interrupted is the cancellation cause when a signal stops the command.
type interrupted struct{ sig os.Signal }

func (i interrupted) Error() string { return "interrupted (" + i.sig.String() + ")" }

// code is the shell's exit status for death by the signal: 128 + its number.
func (i interrupted) code() int {
	if s, ok := i.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}

// env is what a command may touch: its standard streams, and the cleanups
// that must run should the process be ended early (partial output files).
type env struct {
	stdin    io.Reader
	stdout   *checkedWriter
	stderr   io.Writer
	terminal bool // stderr is a terminal: progress bars are drawn
	// columns is the terminal's width now (it may change while a bar is
	// drawn); 80 when it cannot be told.
	columns func() int

	mu       sync.Mutex
	cleanups map[int]func()
	nextID   int
	grace    time.Duration // how long a signalled command may take to stop
}

func newEnv(stdin io.Reader, stdout, stderr io.Writer) *env {
	f, ok := stderr.(*os.File)
	e := &env{stdin: stdin, stdout: &checkedWriter{w: stdout}, stderr: stderr,
		terminal: ok && term.IsTerminal(int(f.Fd())), cleanups: map[int]func(){}}
	e.columns = func() int { return 80 }
	if e.terminal {
		fd := int(f.Fd())
		e.columns = func() int {
			if w, _, err := term.GetSize(fd); err == nil && w > 0 {
				return w
			}
			return 80
		}
	}
	return e
}

// graceAfterSignal is how long the command may take to stop after SIGINT
// or SIGTERM before the process is ended: 3 s, or what setGrace set (a
// server draining its requests).
func (e *env) graceAfterSignal() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.grace > 0 {
		return e.grace
	}
	return 3 * time.Second
}

// setGrace sets graceAfterSignal.
func (e *env) setGrace(d time.Duration) {
	e.mu.Lock()
	e.grace = d
	e.mu.Unlock()
}

// atExit registers f to run if the process is ended by a signal; the
// returned function unregisters it.
func (e *env) atExit(f func()) (remove func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := e.nextID
	e.nextID++
	e.cleanups[id] = f
	return func() {
		e.mu.Lock()
		delete(e.cleanups, id)
		e.mu.Unlock()
	}
}

// cleanup runs every registered cleanup.
func (e *env) cleanup() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, f := range e.cleanups {
		f()
		delete(e.cleanups, id)
	}
}

// notef prints a note ("vkdeit: ...") on stderr unless quiet.
func (e *env) notef(quiet bool, format string, args ...any) {
	if !quiet {
		fmt.Fprintf(e.stderr, "vkdeit: "+format+"\n", args...)
	}
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"classify", "classify images: top-k labels and scores per image", runClassify},
		{"eval", "accuracy on labeled images: top-1/top-5, per class, confusion matrix", runEval},
		{"embed", "image embeddings: the final [CLS] (and [DIST]) hidden state", runEmbed},
		{"explain", "attention maps: where the model looks in each image (png overlay, npy, json)", runExplain},
		{"serve", "serve the model over the Open Inference Protocol (REST and gRPC)", runServe},
		{"download", "download a model from the Hugging Face hub into the cache", runDownload},
		{"devices", "list Vulkan devices and the CPU engine, marking what --device auto runs", runDevices},
		{"verify", "compare an engine against the float64 reference", runVerify},
		{"bench", "benchmark latency, throughput and per-kernel time", runBench},
		{"tune", "measure the fastest kernel configurations on this Vulkan device", runTune},
		{"version", "print the version", runVersion},
	}
}

// usageError is a command-line mistake: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// errShutDown is a server's clean stop after SIGTERM or SIGINT: every
// accepted request was answered, so the exit status is 0.
var errShutDown = errors.New("shut down")

// errFailed means the command already reported its failures on stderr and
// only the exit status remains to be set.
var errFailed = errors.New("failed")

// run is main without the process: it parses args, runs the command and
// returns the exit status (0 ok, 1 failure, 2 usage error, 128+n killed by
// signal n).
func (e *env) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		topUsage(e.stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && name == "help" && !isHelpFlag(args[1]) && args[1] != "help" {
			for _, c := range commands() {
				if c.name == args[1] {
					return e.finish(ctx, c.run(ctx, e, []string{"--help"}))
				}
			}
			fmt.Fprintf(e.stderr, "vkdeit: unknown command %q%s\n", args[1], suggest(args[1]))
			return 2
		}
		topUsage(e.stdout)
		return 0
	case "-version", "--version":
		name = "version"
	}
	for _, c := range commands() {
		if c.name == name {
			return e.finish(ctx, c.run(ctx, e, args[1:]))
		}
	}
	fmt.Fprintf(e.stderr, "vkdeit: unknown command %q%s (run \"vkdeit help\")\n", name, suggest(name))
	return 2
}

// isHelpFlag reports whether arg asks for help ("-h", "-help", "--help").
func isHelpFlag(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

// suggest returns "; did you mean \"classify\"?" for a mistyped command
// name: the command within two edits of it (or that it begins), or "".
func suggest(name string) string {
	best, bestD := "", 3
	for _, c := range commands() {
		d := editDistance(strings.ToLower(name), c.name)
		if len(name) >= 3 && strings.HasPrefix(c.name, strings.ToLower(name)) {
			d = 1
		}
		if d < bestD {
			best, bestD = c.name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes
// (command names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// finish turns a command's error into the exit status, printing it as one
// "vkdeit: ..." line. A failed write to stdout is an error even when the
// command did not notice it.
func (e *env) finish(ctx context.Context, err error) int {
	var ue *usageError
	var sig interrupted
	if err == nil || errors.Is(err, errFailed) {
		if werr := e.stdout.Err(); werr != nil {
			err = werr
		}
	}
	switch {
	case errors.Is(err, errShutDown):
		return 0
	case errors.As(context.Cause(ctx), &sig):
		e.cleanup()
		fmt.Fprintf(e.stderr, "vkdeit: %v\n", sig)
		return sig.code()
	case err == nil, errors.Is(err, pflag.ErrHelp):
		return 0
	case errors.Is(err, errFailed):
		return 1
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "vkdeit: %s\n", ue.msg)
		return 2
	default:
		fmt.Fprintf(e.stderr, "vkdeit: %s\n", oneLine(err.Error()))
		return 1
	}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

func topUsage(w io.Writer) {
	fmt.Fprint(w, `vkdeit runs DeiT image classifiers on GPUs through Vulkan compute shaders,
or on the CPU.

Usage: vkdeit COMMAND [flags] [args]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Examples:
  vkdeit classify samples/grace_hopper.jpg
  vkdeit classify --device cpu --top 3 --format json photos/
  vkdeit embed --format npy --output emb.npy photos/
  vkdeit devices
  vkdeit bench --device gpu,cpu --plot bench.png

Run "vkdeit COMMAND --help" for a command's flags and examples.
Environment: HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE (model cache
and download), VKDEIT_DEVICE (Vulkan device index or name substring), VKDEIT_VALIDATION=1.
`)
}

func runVersion(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "version", "version", "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("version: unexpected arguments %q", fs.Args())
	}
	fmt.Fprintln(e.stdout, "vkdeit", version.String())
	return nil
}
