package deit_test

import (
	"context"
	"fmt"
	"log"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/loader/hub"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

// Load a checkpoint directory, preprocess an image exactly as Hugging Face
// does, and classify it on the GPU and with the CPU reference.
func Example() {
	ctx := context.Background()
	files, err := hub.ResolveModel(ctx, "../testdata/tiny-distilled", nil) // a dir, a file or a hub repo id
	if err != nil {
		log.Fatal(err)
	}
	model, err := deit.Load(files) // config.json + weights + preprocessor_config.json
	if err != nil {
		log.Fatal(err)
	}
	img, err := imageio.Load("../samples/grace_hopper.jpg", imageio.DecodeOptions{})
	if err != nil {
		log.Fatal(err)
	}
	pixels, err := model.Pre.Apply(img) // [3, H, W] float32
	if err != nil {
		log.Fatal(err)
	}

	dev, err := gpu.Open(gpu.OptionsFromEnv()) // $VKDEIT_DEVICE picks among several
	if err != nil {
		log.Fatal(err)
	}
	defer dev.Close()
	engine, err := deit.NewGPUEngine(dev, model, 8) // weights uploaded once; up to 8 images a call
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()
	logits, err := engine.Forward(ctx, pixels, 1) // [1, NumLabels]: one submission
	if err != nil {
		log.Fatal(err)
	}
	ref, err := model.ForwardReference(ctx, pixels, 1) // the pure-Go reference
	if err != nil {
		log.Fatal(err)
	}
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	fmt.Println(model.Config.Labels[best], logits[best], ref.Logits[best])
}

// Classify image files with the float64 reference engine; NewEngine's
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
	engine, err := deit.NewEngine(model, deit.EngineOptions{Device: "ref", MaxBatch: 8})
	if err != nil {
		log.Fatal(err)
	}
	c, err := deit.NewClassifier(model, engine)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	inputs := []deit.Input{{Path: "../testdata/grace_hopper_96x112.png"}, {Path: "missing.png"}}
	results, err := c.Classify(ctx, inputs, deit.ClassifyOptions{TopK: 3})
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
	engine, err := deit.NewEngine(model, deit.EngineOptions{Device: "ref"})
	if err != nil {
		log.Fatal(err)
	}
	c, err := deit.NewClassifier(model, engine)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	res, err := c.Classify(ctx, []deit.Input{{Path: "../testdata/grace_hopper_96x112.png"}},
		deit.ClassifyOptions{Embeddings: true})
	if err != nil {
		log.Fatal(err)
	}
	r := res[0]
	fmt.Printf("%d-dim embedding, first values %.4f %.4f; distillation embedding %d-dim\n",
		len(r.Embedding), r.Embedding[0], r.Embedding[1], len(r.DistillationEmbedding))
	// Output:
	// 64-dim embedding, first values -0.2462 0.5284; distillation embedding 64-dim
}
