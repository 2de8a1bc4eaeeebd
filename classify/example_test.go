package classify_test

import (
	"context"
	"fmt"
	"log"

	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/loader/hub"
)

// Classify image files with the float64 reference engine; engine.New's
// "auto" would pick a GPU if there is one, else the CPU engine. Results
// come in input order with Hugging Face pipeline-style labels and scores.
func ExampleClassifier() {
	ctx := context.Background()
	files, err := hub.ResolveModel(ctx, "../testdata/tiny-distilled", nil)
	if err != nil {
		log.Fatal(err)
	}
	model, err := deit.Load(files)
	if err != nil {
		log.Fatal(err)
	}
	eng, err := engine.New(model, engine.Options{Device: "ref", MaxBatch: 8})
	if err != nil {
		log.Fatal(err)
	}
	c, err := classify.New(model, eng)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	inputs := []classify.Input{{Path: "../testdata/grace_hopper_96x112.png"}, {Path: "missing.png"}}
	results, err := c.Classify(ctx, inputs, classify.Options{TopK: 3})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range results {
		if r.Err != nil {
			fmt.Println(r.Name, "failed")
			continue
		}
		for _, p := range r.Top {
			fmt.Printf("%s %-10s %.4f\n", r.Name, p.Label, p.Score)
		}
	}
	// Output:
	// ../testdata/grace_hopper_96x112.png automobile 0.2331
	// ../testdata/grace_hopper_96x112.png frog       0.1784
	// ../testdata/grace_hopper_96x112.png deer       0.1325
	// missing.png failed
}

// Embeddings: the final-LayerNorm [CLS] and [DIST] rows, what Hugging
// Face's DeiTModel returns as last_hidden_state[:, 0] and [:, 1].
func ExampleClassifier_embeddings() {
	ctx := context.Background()
	files, err := hub.ResolveModel(ctx, "../testdata/tiny-distilled", nil)
	if err != nil {
		log.Fatal(err)
	}
	model, err := deit.Load(files)
	if err != nil {
		log.Fatal(err)
	}
	eng, err := engine.New(model, engine.Options{Device: "ref"})
	if err != nil {
		log.Fatal(err)
	}
	c, err := classify.New(model, eng)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	res, err := c.Classify(ctx, []classify.Input{{Path: "../testdata/grace_hopper_96x112.png"}},
		classify.Options{Embeddings: true})
	if err != nil {
		log.Fatal(err)
	}
	r := res[0]
	fmt.Printf("%d-dim embedding, first values %.4f %.4f; distillation embedding %d-dim\n",
		len(r.Embedding), r.Embedding[0], r.Embedding[1], len(r.DistillationEmbedding))
	// Output:
	// 64-dim embedding, first values -0.2462 0.5284; distillation embedding 64-dim
}
