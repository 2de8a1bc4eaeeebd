package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/vkdeit/vkdeit/loader/hub"
)

// newFlagSet returns a GNU-style flag set (pflag: --name value, --name=value,
// flags before or after the arguments, "--" ends the flags) whose --help
// prints the synopsis, the flags with their defaults and the examples.
func newFlagSet(e *env, name, synopsis, examples string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SortFlags = false
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		w := e.stdout
		fmt.Fprintf(w, "Usage: vkdeit %s\n", synopsis)
		if fs.HasFlags() {
			fmt.Fprintf(w, "\nFlags:\n%s", fs.FlagUsages())
		}
		if examples != "" {
			fmt.Fprintf(w, "\nExamples:\n%s", examples)
		}
	}
	return fs
}

// parse parses args with fs. --help prints usage to stdout and returns
// pflag.ErrHelp; a bad flag becomes a usage error that names it. A flag
// that takes a value never takes the next flag as its value: "--top --json"
// is an error, not --top="--json".
func parse(e *env, fs *pflag.FlagSet, args []string) error {
	for i, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			fs.Usage()
			return pflag.ErrHelp
		}
		if f := valueFlag(fs, a); f != nil && i+1 < len(args) && looksLikeFlag(args[i+1]) {
			return usagef("%s: flag --%s needs a value, got the flag %s (run \"vkdeit %s --help\")", fs.Name(), f.Name, args[i+1], fs.Name())
		}
	}
	if err := fs.Parse(args); err != nil {
		return usagef("%s: %v (run \"vkdeit %s --help\")", fs.Name(), err, fs.Name())
	}
	return nil
}

// valueFlag returns the flag arg names when it is a flag that takes its
// value from the next argument ("--top", "-o"; not "--top=3" or a bool).
func valueFlag(fs *pflag.FlagSet, arg string) *pflag.Flag {
	var f *pflag.Flag
	switch {
	case strings.HasPrefix(arg, "--") && !strings.Contains(arg, "="):
		f = fs.Lookup(arg[2:])
	case len(arg) == 2 && arg[0] == '-' && arg[1] != '-':
		f = fs.ShorthandLookup(arg[1:])
	}
	if f == nil || f.NoOptDefVal != "" {
		return nil
	}
	return f
}

// looksLikeFlag reports whether arg is spelled as a flag: "-x" or "--name",
// but not "-" (standard input) or a negative number or duration ("-1e-3",
// "-1s": no flag name starts with a digit or a dot).
func looksLikeFlag(arg string) bool {
	if len(arg) < 2 || arg[0] != '-' {
		return false
	}
	c := arg[1]
	return !(c >= '0' && c <= '9' || c == '.')
}

// modelFlags are the flags every model-using command shares.
type modelFlags struct {
	arg        string // --model
	allowExtra bool   // --allow-extra-tensors
}

// addModelFlags adds --model (default def) and --allow-extra-tensors.
func addModelFlags(fs *pflag.FlagSet, def string) *modelFlags {
	f := &modelFlags{}
	fs.StringVarP(&f.arg, "model", "m", def, "model: a directory, a weights file, or a Hugging Face repo id[@revision]")
	fs.BoolVar(&f.allowExtra, "allow-extra-tensors", false, "load checkpoints holding tensors the model does not use (optimizer state, other heads) instead of refusing them")
	return f
}

// modelFlag adds the model flags with the default model.
func modelFlag(fs *pflag.FlagSet) *modelFlags { return addModelFlags(fs, hub.DefaultModel) }

// deviceHelp describes --device for every command that runs a model.
const deviceHelp = "what runs the model: auto (a GPU if there is one, else the CPU engine), " +
	"gpu (any Vulkan device, lavapipe included), cpu (the SIMD CPU engine), ref (the float64 reference), " +
	"or a Vulkan device index or name substring (see \"vkdeit devices\")"
