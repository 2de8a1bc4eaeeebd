package engine_test

import (
	"context"
	"fmt"
	"log"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/loader/hub"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

// Load a checkpoint directory, preprocess an image exactly as Hugging Face
// does, and run it on a GPU and on the float64 reference.
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
	pixels, err := model.Preprocessor.Apply(img) // [3, H, W] float32
	if err != nil {
		log.Fatal(err)
	}

	dev, err := gpu.Open(gpu.OptionsFromEnv()) // $VKDEIT_DEVICE picks among several
	if err != nil {
		log.Fatal(err)
	}
	defer dev.Close()
	gpuEngine, err := engine.NewGPU(dev, model, 8, engine.GPUOptions{}) // weights uploaded once; up to 8 images a call
	if err != nil {
		log.Fatal(err)
	}
	defer gpuEngine.Close()
	logits, err := gpuEngine.Forward(ctx, pixels, 1) // [1, NumLabels]: one submission
	if err != nil {
		log.Fatal(err)
	}
	ref, err := engine.RunReference(ctx, model, pixels, 1, 0) // the float64 reference
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
