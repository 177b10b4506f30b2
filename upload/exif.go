package upload

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/rwcarlsen/goexif/exif"
)

// EXIF limits enforced before any EXIF byte reaches a third-party parser.
const (
	// MaxEXIFBytes is the largest EXIF (TIFF) block accepted. A JPEG APP1
	// segment cannot exceed 64 KiB either.
	MaxEXIFBytes = 64 << 10
	// MaxEXIFIFDs is the most image file directories followed in one block.
	MaxEXIFIFDs = 16
	// MaxEXIFEntries is the most entries accepted in one directory.
	MaxEXIFEntries = 512
)

var errEXIF = errors.New("upload: malformed EXIF")

// errEXIFAttack marks the malformations that serve only to attack EXIF
// parsers (directory loops, counts that overflow, value areas aliased many
// times): they block the upload as corrupt. Other malformations (an offset
// past the block, an unknown field type) are what camera firmware and split
// segments produce: the block is removed and the upload accepted.
var errEXIFAttack = fmt.Errorf("%w aimed at EXIF parsers", errEXIF)

// maxEXIFReach is how far past its block a value may claim to lie and
// still be a camera's mistake (EXIF split over two or three segments)
// rather than a count made to overflow a parser's arithmetic.
const maxEXIFReach = 1 << 20

// exifTypeSize is the byte size of each TIFF field type 1–12; zero marks an
// unknown type.
var exifTypeSize = [13]uint64{0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8}

// EXIF tags the pre-validator treats specially.
const (
	tagOrientation   = 0x0112
	tagExifIFD       = 0x8769
	tagGPSIFD        = 0x8825
	tagInteropIFD    = 0xa005
	tagMakerNote     = 0x927c
	tagICCProfile    = 0x8773
	tagUserComment   = 0x9286
	tagXPTitle       = 0x9c9b
	tagXPSubject     = 0x9c9f
	tagImageDesc     = 0x010e
	tagMake          = 0x010f
	tagModel         = 0x0110
	tagSoftware      = 0x0131
	tagArtist        = 0x013b
	tagCopyright     = 0x8298
	tagXMP           = 0x02bc
	exifTypeShort    = 3
	exifTypeLong     = 4
	exifTypeASCII    = 2
	exifTypeUndef    = 7
	exifTypeByte     = 1
	exifTypeSByte    = 6
	exifValueInlined = 4
)

// exifValue is a string-capable value inside the block.
type exifValue struct {
	tag      uint16
	off, len int
	text     bool
}

// exifInfo is what the pre-validator learned about a block.
type exifInfo struct {
	orientation uint16 // 0 when absent
	values      []exifValue
	// image holds the thumbnail and maker note ranges, sorted and
	// disjoint; beyond maxEXIFImage ranges the rest are scanned as binary.
	image  [maxEXIFImage]exifRange
	nimage int
	thumb  [2]uint32 // JPEGInterchangeFormat offset and length of the directory being read
}

// exifRange is a byte range of an EXIF block.
type exifRange struct{ off, end int }

const (
	maxEXIFImage       = 4
	tagThumbnailOffset = 0x0201
	tagThumbnailLength = 0x0202
)

// addImage records data[off:end] as image data unless it overlaps a range
// already recorded.
func (info *exifInfo) addImage(off, end uint64) {
	if info.nimage == maxEXIFImage || off >= end {
		return
	}
	n := info.nimage
	i := 0
	for i < n && uint64(info.image[i].off) < off {
		i++
	}
	if i > 0 && uint64(info.image[i-1].end) > off || i < n && uint64(info.image[i].off) < end {
		return
	}
	copy(info.image[i+1:n+1], info.image[i:n])
	info.image[i] = exifRange{int(off), int(end)}
	info.nimage++
}

// prevalidateEXIF checks that a TIFF-structured EXIF block is safe to hand
// to a general EXIF parser: at most MaxEXIFBytes, a valid byte order and
// magic, every IFD inside the block and visited once, at most MaxEXIFIFDs
// IFDs of at most MaxEXIFEntries entries, only the twelve TIFF field types,
// every value (count × type size, computed without overflow) inside the
// block, the sum of out-of-line values at most twice the block, and the
// sub-IFD pointers (Exif, GPS, Interoperability) a single SHORT or LONG.
// It never allocates more than a few hundred bytes beyond the value list.
func prevalidateEXIF(b []byte) (exifInfo, error) {
	var info exifInfo
	if len(b) > MaxEXIFBytes {
		return info, fmt.Errorf("%w: block of %d bytes exceeds %d", errEXIF, len(b), MaxEXIFBytes)
	}
	if len(b) < 8 {
		return info, fmt.Errorf("%w: block of %d bytes is too short", errEXIF, len(b))
	}
	var bo binary.ByteOrder
	switch string(b[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return info, fmt.Errorf("%w: unknown byte order", errEXIF)
	}
	if bo.Uint16(b[2:]) != 42 {
		return info, fmt.Errorf("%w: missing TIFF magic", errEXIF)
	}
	var (
		queue    [MaxEXIFIFDs]uint32
		isChain  [MaxEXIFIFDs]bool
		visited  [MaxEXIFIFDs]uint32
		nq, nv   int
		outBytes uint64
		size     = uint64(len(b))
	)
	push := func(off uint32, chain bool) error {
		for _, v := range visited[:nv] {
			if v == off {
				return fmt.Errorf("%w: IFD at %d is referenced twice (loop)", errEXIFAttack, off)
			}
		}
		for _, v := range queue[:nq] {
			if v == off {
				return fmt.Errorf("%w: IFD at %d is referenced twice (loop)", errEXIFAttack, off)
			}
		}
		if nv+nq >= MaxEXIFIFDs {
			return fmt.Errorf("%w: more than %d IFDs", errEXIFAttack, MaxEXIFIFDs)
		}
		queue[nq], isChain[nq] = off, chain
		nq++
		return nil
	}
	if err := push(bo.Uint32(b[4:]), true); err != nil {
		return info, err
	}
	for nq > 0 {
		nq--
		off, chain := queue[0], isChain[0]
		copy(queue[:], queue[1:nq+1])
		copy(isChain[:], isChain[1:nq+1])
		visited[nv] = off
		nv++
		if off < 8 || uint64(off)+2 > size {
			return info, fmt.Errorf("%w: IFD offset %d outside the block", errEXIF, off)
		}
		n := uint64(bo.Uint16(b[off:]))
		if n > MaxEXIFEntries {
			return info, fmt.Errorf("%w: IFD at %d has %d entries", errEXIFAttack, off, n)
		}
		end := uint64(off) + 2 + 12*n + 4 // entries and the next-IFD offset
		if end > size {
			return info, fmt.Errorf("%w: IFD at %d runs past the block", errEXIF, off)
		}
		for k := uint64(0); k < n; k++ {
			e := uint64(off) + 2 + 12*k
			tag := bo.Uint16(b[e:])
			typ := uint64(bo.Uint16(b[e+2:]))
			count := uint64(bo.Uint32(b[e+4:]))
			if typ == 0 || typ >= uint64(len(exifTypeSize)) {
				return info, fmt.Errorf("%w: tag 0x%04x has unknown type %d", errEXIF, tag, typ)
			}
			total := count * exifTypeSize[typ] // ≤ (2³²-1)·8: no overflow in uint64
			if total == 0 {
				return info, fmt.Errorf("%w: tag 0x%04x has no value", errEXIF, tag)
			}
			valOff := e + 8
			if total > exifValueInlined {
				valOff = uint64(bo.Uint32(b[e+8:]))
				if valOff > size || total > size-valOff {
					err := errEXIF
					if valOff+total > maxEXIFReach {
						err = errEXIFAttack
					}
					return info, fmt.Errorf("%w: tag 0x%04x value (%d × %d bytes) lies outside the block", err, tag, count, exifTypeSize[typ])
				}
				outBytes += total
				if outBytes > 2*size {
					return info, fmt.Errorf("%w: values overlap beyond twice the block size", errEXIFAttack)
				}
			}
			switch tag {
			case tagExifIFD, tagGPSIFD, tagInteropIFD:
				if count != 1 || (typ != exifTypeShort && typ != exifTypeLong) {
					return info, fmt.Errorf("%w: sub-IFD pointer 0x%04x is not a single SHORT or LONG", errEXIF, tag)
				}
				p := uint32(bo.Uint16(b[e+8:]))
				if typ == exifTypeLong {
					p = bo.Uint32(b[e+8:])
				}
				if err := push(p, false); err != nil {
					return info, err
				}
				continue
			case tagOrientation:
				if typ == exifTypeShort && count == 1 && info.orientation == 0 {
					info.orientation = bo.Uint16(b[e+8:])
				}
				continue
			case tagMakerNote:
				info.addImage(valOff, valOff+total) // vendor binary, often a preview image
				continue
			case tagICCProfile:
				continue // colour data: not text
			case tagThumbnailOffset, tagThumbnailLength:
				if count == 1 && typ == exifTypeLong {
					info.thumb[tag-tagThumbnailOffset] = bo.Uint32(b[e+8:])
				}
				continue
			}
			switch typ {
			case exifTypeASCII, exifTypeUndef, exifTypeByte, exifTypeSByte:
				text := typ == exifTypeASCII || tag == tagUserComment || tag == tagXMP ||
					(tag >= tagXPTitle && tag <= tagXPSubject)
				info.values = append(info.values, exifValue{tag: tag, off: int(valOff), len: int(total), text: text})
			}
		}
		if t := info.thumb; t[1] != 0 && uint64(t[0]) < size {
			info.addImage(uint64(t[0]), min(size, uint64(t[0])+uint64(t[1])))
		}
		info.thumb = [2]uint32{}
		if chain {
			if next := bo.Uint32(b[end-4:]); next != 0 {
				if err := push(next, true); err != nil {
					return info, err
				}
			}
		}
	}
	return info, nil
}

// exifTagName names the tags most often abused to carry markup.
func exifTagName(tag uint16) string {
	switch tag {
	case tagImageDesc:
		return "ImageDescription"
	case tagMake:
		return "Make"
	case tagModel:
		return "Model"
	case tagSoftware:
		return "Software"
	case tagArtist:
		return "Artist"
	case tagCopyright:
		return "Copyright"
	case tagUserComment:
		return "UserComment"
	case tagXMP:
		return "XMP"
	case 0x9c9b:
		return "XPTitle"
	case 0x9c9c:
		return "XPComment"
	case 0x9c9d:
		return "XPAuthor"
	case 0x9c9e:
		return "XPKeywords"
	case 0x9c9f:
		return "XPSubject"
	}
	return fmt.Sprintf("tag 0x%04x", tag)
}

// decodeEXIF runs goexif on a block the pre-validator accepted, inside
// recover. It returns the orientation goexif reads (0 when absent or
// unreadable). A panic is reported as an error; a parse error is not,
// because goexif rejects some valid blocks and the pre-validator already
// vouched for the structure.
func (v *Validator) decodeEXIF(block []byte) (orientation uint16, err error) {
	v.exifDecodes.Add(1)
	defer func() {
		if r := recover(); r != nil {
			orientation, err = 0, fmt.Errorf("%w: EXIF parser failed", errEXIF)
		}
	}()
	x, derr := exif.Decode(bytes.NewReader(block))
	if x == nil || derr != nil && exif.IsCriticalError(derr) {
		return 0, nil
	}
	tag, gerr := x.Get(exif.Orientation)
	if gerr != nil {
		return 0, nil
	}
	o, ierr := tag.Int(0)
	if ierr != nil || o < 0 || o > 0xffff {
		return 0, nil
	}
	return uint16(o), nil
}

// minimalEXIF returns a big-endian TIFF block holding only an orientation
// tag, used when sanitising so that a rotated photo still displays upright.
func minimalEXIF(orientation uint16) []byte {
	b := []byte{
		'M', 'M', 0, 42, 0, 0, 0, 8, // header, IFD0 at 8
		0, 1, // one entry
		0x01, 0x12, 0, exifTypeShort, 0, 0, 0, 1, byte(orientation >> 8), byte(orientation), 0, 0, // Orientation
		0, 0, 0, 0, // no next IFD
	}
	return b
}
