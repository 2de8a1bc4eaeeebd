package imageio

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHasImageExt(t *testing.T) {
	for path, want := range map[string]bool{
		"a.jpg": true, "a.JPEG": true, "scan.jfif": true, "old.JPE": true, "b.png": true, "c.tif": true,
		"d.webp": true, "e.txt": false, "jpg": false, "f.jpg.bak": false, "dir.jfif/x": false,
	} {
		require.Equal(t, want, HasImageExt(path), path)
	}
}
