package replay

import "image"

// arrow is the pointer drawn on frames: the recording keeps where the pointer is, not its shape
// (pointer shapes are not decoded), so every frame shows the classic arrow. 'X' is black, 'o'
// white, ' ' transparent; the hot spot is the top-left corner.
var arrow = [...]string{
	"X",
	"XX",
	"XoX",
	"XooX",
	"XoooX",
	"XooooX",
	"XoooooX",
	"XooooooX",
	"XoooooooX",
	"XooooooooX",
	"XoooooooooX",
	"XooooooXXXXX",
	"XoooXooX",
	"XooX XooX",
	"XoX  XooX",
	"XX    XooX",
	"X     XooX",
	"       XooX",
	"        XX",
}

// drawPointer draws the arrow with its hot spot at p, clipped to dst.
func drawPointer(dst *image.RGBA, p image.Point) {
	b := dst.Bounds()
	for dy, row := range arrow {
		y := p.Y + dy
		if y < b.Min.Y || y >= b.Max.Y {
			continue
		}
		for dx, c := range row {
			x := p.X + dx
			if c == ' ' || x < b.Min.X || x >= b.Max.X {
				continue
			}
			var v uint8 // black
			if c == 'o' {
				v = 0xFF
			}
			i := dst.PixOffset(x, y)
			dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2], dst.Pix[i+3] = v, v, v, 0xFF
		}
	}
}
