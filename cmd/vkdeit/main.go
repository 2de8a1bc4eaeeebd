// Command vkdeit classifies images with DeiT vision transformers, running the
// whole forward pass on the GPU through Vulkan compute shaders (or on the CPU
// with the pure-Go reference path).
//
//	vkdeit classify photo.jpg             top-5 labels (downloads the default model once)
//	vkdeit classify --json --top 3 dir/   one JSON object per image
//	vkdeit download facebook/deit-base-distilled-patch16-224
//	vkdeit devices                        Vulkan devices, and the one vkdeit picks
//	vkdeit verify                         GPU engine against the CPU reference
//	vkdeit bench --cpu --plot out.png     latency, throughput, per-kernel times
//
// Run "vkdeit help COMMAND" for a command's flags and examples.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/vkdeit/vkdeit/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env is what a command may touch: its standard streams.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// stderrTerminal reports whether stderr is an interactive terminal (progress
// bars are drawn only there).
func (e *env) stderrTerminal() bool {
	f, ok := e.stderr.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"classify", "classify images: top-k ImageNet labels per image", runClassify},
		{"download", "download a model from the Hugging Face hub into the cache", runDownload},
		{"devices", "list Vulkan devices and the one vkdeit picks", runDevices},
		{"verify", "compare the GPU engine against the CPU reference", runVerify},
		{"bench", "benchmark latency, throughput and per-kernel GPU time", runBench},
		{"version", "print the version", runVersion},
	}
}

// usageError is a command-line mistake: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// errFailed means the command already reported its failures on stderr and
// only the exit status remains to be set.
var errFailed = errors.New("failed")

// run is main without the process: it parses args, runs the command and
// returns the exit status (0 ok, 1 failure, 2 usage error).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		topUsage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && name == "help" {
			for _, c := range commands() {
				if c.name == args[1] {
					return finish(e, c.run(ctx, e, []string{"--help"}))
				}
			}
			fmt.Fprintf(stderr, "vkdeit: unknown command %q\n", args[1])
			return 2
		}
		topUsage(stdout)
		return 0
	case "-version", "--version":
		name = "version"
	}
	for _, c := range commands() {
		if c.name == name {
			return finish(e, c.run(ctx, e, args[1:]))
		}
	}
	fmt.Fprintf(stderr, "vkdeit: unknown command %q (run \"vkdeit help\")\n", name)
	return 2
}

// finish turns a command's error into the exit status, printing it as one
// "vkdeit: ..." line.
func finish(e *env, err error) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
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
	fmt.Fprint(w, `vkdeit runs DeiT image classifiers on the GPU through Vulkan compute shaders.

Usage: vkdeit COMMAND [flags] [args]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Examples:
  vkdeit classify samples/grace_hopper.jpg
  vkdeit classify --device cpu --top 3 --json photos/
  vkdeit devices
  vkdeit bench --cpu --plot bench.png

Run "vkdeit COMMAND --help" for a command's flags and examples.
Environment: HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE (model cache
and download), VKDEIT_DEVICE (device index or name substring), VKDEIT_VALIDATION=1.
`)
}

// newFlagSet returns a flag set whose -help prints usage: the synopsis, the
// flags with their defaults (when the command has any), and the examples.
func newFlagSet(e *env, name, synopsis, examples string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: vkdeit %s\n", synopsis)
		nflags := 0
		fs.VisitAll(func(*flag.Flag) { nflags++ })
		if nflags > 0 {
			fmt.Fprintln(w, "\nFlags:")
			printFlags(w, fs)
		}
		if examples != "" {
			fmt.Fprintf(w, "\nExamples:\n%s", examples)
		}
	}
	return fs
}

// printFlags is flag.PrintDefaults with GNU-style "--name" spelling, which
// the help texts and examples use (the flag package accepts both).
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if typ != "" {
			line += " " + typ
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			def = fmt.Sprintf(" (default %s)", f.DefValue)
			if typ == "string" {
				def = fmt.Sprintf(" (default %q)", f.DefValue)
			}
		}
		fmt.Fprintf(w, "%s\n      %s%s\n", line, usage, def)
	})
}

// parse parses args with fs; -help prints usage to stdout and returns
// flag.ErrHelp, a bad flag becomes a usage error.
func parse(e *env, fs *flag.FlagSet, args []string) error {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(e.stdout)
			fs.Usage()
			return flag.ErrHelp
		}
	}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(interleave(fs, args)); err != nil {
		return usagef("%s: %v (run \"vkdeit %s --help\")", fs.Name(), err, fs.Name())
	}
	return nil
}

// interleave moves flags that follow positional arguments in front of them,
// so "vkdeit classify a.jpg --top 3" works like "vkdeit classify --top 3 a.jpg".
// Everything after "--" stays positional; a lone "-" (stdin) is positional.
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // Parse reports it
		}
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	return append(append(flags, "--"), pos...)
}

func runVersion(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "version", "version", "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "vkdeit", version())
	return nil
}

// version reports the module version and VCS revision baked in by go build.
// Since Go 1.24 a build inside a git checkout already has the revision in its
// pseudo-version (v0.0.0-DATE-REV+dirty); it is then not repeated.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	if rev := bench.Commit(); rev != "" && !strings.Contains(v, strings.TrimSuffix(rev, "+dirty")) {
		v += " " + rev
	}
	return v + " " + bi.GoVersion
}
