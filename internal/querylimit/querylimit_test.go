package querylimit

import "testing"

func TestClamp(t *testing.T) {
	t.Parallel()
	for in, want := range map[int]int{-5: 100, 0: 100, 1: 1, 500: 500, 10000: 10000, 10001: 10000} {
		if got := Clamp(in); got != want {
			t.Errorf("Clamp(%d) = %d, want %d", in, got, want)
		}
	}
}

func TestClampTop(t *testing.T) {
	t.Parallel()
	for in, want := range map[int]int{-1: 10, 0: 10, 1: 1, 100: 100, 101: 100} {
		if got := ClampTop(in); got != want {
			t.Errorf("ClampTop(%d) = %d, want %d", in, got, want)
		}
	}
}
