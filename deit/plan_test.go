package deit

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// testConfig is a small model for fast tests.
func testConfig(head HeadKind) Config {
	return Config{Hidden: 32, Layers: 2, Heads: 2, MLP: 64, ImageSize: 20, PatchSize: 8, Channels: 3,
		NumLabels: 5, Eps: 1e-6, Head: head}
}

// TestPlan checks the plan's structure: the steps in order, every value
// written before it is read, shapes that fit each step, one tap per layer,
// FLOPs of the steps every pass runs that add up to Config.FLOPs, and one
// optional attention-probabilities step per layer that nothing reads.
func TestPlan(t *testing.T) {
	for _, head := range []HeadKind{HeadDistilled, HeadClassifier, HeadDistilledClassifier} {
		t.Run(head.String(), func(t *testing.T) {
			c := testConfig(head)
			p, err := NewPlan(&Model{Config: c, Weights: RandomWeights(c, 1)})
			require.NoError(t, err)
			require.Len(t, p.Steps, 3+8*c.Layers+3)
			written := map[Value]bool{Pixels: true}
			names := map[string]bool{}
			var flops float64
			for _, s := range p.Steps {
				si := s.Info()
				require.True(t, written[si.In], "%s reads %v before any step writes it", si.Name, si.In)
				require.False(t, names[si.Name], "step name %s twice", si.Name)
				names[si.Name] = true
				written[si.Out] = true
				inRows, inCols := p.Shape(si.In)
				outRows, outCols := p.Shape(si.Out)
				switch s := s.(type) {
				case *Linear:
					require.Equal(t, s.Rows*s.K, inRows*inCols, "%s input", si.Name)
					require.Equal(t, s.Rows*s.N, outRows*outCols, "%s output", si.Name)
					require.Len(t, s.W, s.N*s.K, si.Name)
					require.Len(t, s.Bias, s.N, si.Name)
					if s.Epilogue == EpilogueResidual {
						require.True(t, written[s.Resid], "%s adds %v before it is written", si.Name, s.Resid)
						rr, rc := p.Shape(s.Resid)
						require.Equal(t, outRows*outCols, rr*rc, si.Name)
					}
				case *LayerNorm:
					require.Equal(t, s.Rows*s.D, inRows*inCols, si.Name)
					require.Equal(t, s.Rows*s.D, outRows*outCols, si.Name)
				case *Attention:
					require.Equal(t, [2]int{c.Tokens(), 3 * c.Hidden}, [2]int{inRows, inCols})
				case *AttentionProbs:
					require.Equal(t, [2]int{c.Tokens(), 3 * c.Hidden}, [2]int{inRows, inCols})
					require.Equal(t, [2]int{c.Heads * c.Tokens(), c.Tokens()}, [2]int{outRows, outCols})
					require.True(t, si.Optional, si.Name)
					require.Equal(t, TapAttention, si.Tap)
					require.False(t, si.Runs(0), "an optional step runs only for its tap")
					require.True(t, si.Runs(TapAttention|TapHidden))
				}
				if !si.Optional {
					require.True(t, si.Runs(0), si.Name)
					require.NotEqual(t, Probs, si.In, "%s reads an optional step's output", si.Name)
					if l, ok := s.(*Linear); ok {
						require.NotEqual(t, Probs, l.Resid, si.Name)
					}
					flops += s.FLOPs(1)
				}
				if si.Layer >= 0 {
					require.True(t, strings.HasPrefix(si.Name, fmt.Sprintf("layer%d.", si.Layer)), si.Name)
				}
				if si.Tap != 0 {
					require.False(t, si.Out.Narrow(), "tapped values are fp32: %s", si.Name)
				}
			}
			require.True(t, written[Logits])
			require.Equal(t, c.FLOPs(), flops, "the steps' FLOPs add up to Config.FLOPs")
			require.Len(t, p.Taps(TapHidden), c.Layers)
			require.Len(t, p.Taps(TapEmbeddings), 1)
			require.Len(t, p.Taps(TapAttention), c.Layers)
			require.True(t, p.Optional(Probs), "only optional steps write the probabilities")
			require.False(t, p.Optional(QKV))
			require.False(t, p.Optional(Logits))
			require.Equal(t, len(p.Steps)-1, p.LastWriter(Logits))
			require.Equal(t, len(p.Steps)-2, p.LastWriter(Embeddings), "the embeddings survive to the end: read, not copied")
			require.NotEqual(t, p.Taps(TapHidden)[0], p.Steps[p.LastWriter(Stream)], "the stream is overwritten: copied")

			head := p.Steps[len(p.Steps)-1].(*Linear)
			if c.Head == HeadDistilled {
				require.Len(t, head.MeanOf, 2)
				for o := range c.NumLabels {
					require.Equal(t, head.MeanOf[0].W[o*c.Hidden]/2, head.W[o*2*c.Hidden], "½W_cls")
					require.Equal(t, head.MeanOf[1].W[o*c.Hidden]/2, head.W[o*2*c.Hidden+c.Hidden], "½W_dist")
				}
			} else {
				require.Empty(t, head.MeanOf)
			}
		})
	}
}

// TestPlanRefuses: a plan is only made of a usable model.
func TestPlanRefuses(t *testing.T) {
	c := testConfig(HeadDistilled)
	_, err := NewPlan(nil)
	require.ErrorContains(t, err, "nil model")
	_, err = NewPlan(&Model{Config: c})
	require.ErrorContains(t, err, "no weights")
	_, err = NewPlan(&Model{Config: Config{Hidden: 30, Heads: 4, Layers: 1, MLP: 8}})
	require.ErrorContains(t, err, "not a multiple of 4 heads")
}

func TestPrecisionParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Precision
	}{{"fp32", FP32}, {"FP16", FP16}, {"bf16", BF16}, {"bfloat16", BF16}, {"half", FP16}, {" auto ", Auto}} {
		p, err := ParsePrecision(c.in)
		require.NoError(t, err)
		require.Equal(t, c.want, p)
		back, err := ParsePrecision(p.String())
		require.NoError(t, err)
		require.Equal(t, p, back)
	}
	_, err := ParsePrecision("int8")
	require.ErrorContains(t, err, `unknown precision "int8" (want fp32, fp16, bf16, auto)`)
	require.Equal(t, "Precision(9)", Precision(9).String())
	list, err := ParsePrecisions("fp32,fp16, fp32")
	require.NoError(t, err)
	require.Equal(t, []Precision{FP32, FP16}, list)
	var p Precision
	require.NoError(t, p.Set("bf16"))
	require.Equal(t, BF16, p)
	require.Error(t, p.Set("x"))
	require.NoError(t, FP16.Supported("gpu engine", FP32, FP16))
	require.NoError(t, Auto.Supported("cpu engine", FP32))
	require.EqualError(t, BF16.Supported("cpu engine", FP32), "precision bf16: the cpu engine supports fp32, auto")
}

// ExampleNewPlan prints the forward plan of a two-layer distilled model:
// the steps every engine executes, in order.
func ExampleNewPlan() {
	c := Config{Hidden: 32, Layers: 2, Heads: 2, MLP: 64, ImageSize: 32, PatchSize: 16, Channels: 3,
		NumLabels: 5, Eps: 1e-6, Head: HeadDistilled}
	p, err := NewPlan(&Model{Config: c, Weights: RandomWeights(c, 1)})
	if err != nil {
		panic(err)
	}
	for _, s := range p.Steps {
		si := s.Info()
		if si.Layer == 1 {
			continue // the same as layer 0
		}
		extra := ""
		if l, ok := s.(*Linear); ok {
			extra = fmt.Sprintf(" [%d×%d] %v", l.N, l.K, l.Epilogue)
			if l.Epilogue == EpilogueResidual {
				extra += " + " + l.Resid.String()
			}
		}
		if si.Tap != 0 {
			extra += " (tap)"
		}
		if si.Optional {
			extra += " (optional)"
		}
		fmt.Printf("%-17s %-10s %v → %v%s\n", si.Name, si.Kernel, si.In, si.Out, extra)
	}
	// Output:
	// patchify          patchify   pixels → patches
	// patch_embed       matmul     patches → embedded [32×768] none
	// tokens            tokens     embedded → stream
	// layer0.ln1        layernorm  stream → normed
	// layer0.qkv        matmul     normed → qkv [96×32] none
	// layer0.attention  attention  qkv → context
	// layer0.attention_probs attentionprobs qkv → probs (tap) (optional)
	// layer0.proj       matmul     context → stream1 [32×32] residual + stream
	// layer0.ln2        layernorm  stream1 → normed
	// layer0.fc1        matmul     normed → hidden [64×32] gelu
	// layer0.fc2        matmul     hidden → stream [32×64] residual + stream1 (tap)
	// gather            gatherrows stream → head_rows
	// final_norm        layernorm  head_rows → embeddings (tap)
	// head              matmul     embeddings → logits [5×64] none
}
