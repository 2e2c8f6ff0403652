package artifact

import (
	"errors"
	"fmt"
)

// ErrIntegrity is matched, through errors.Is, by every error that means the
// bytes are not an artifact exactly as a writer made it: damaged, tampered
// with, truncated, extended, reordered or spliced. A restore that sees it must
// discard everything it read.
var ErrIntegrity = errors.New("backup artifact failed its integrity check")

// integrityError is a sentinel that also matches ErrIntegrity.
type integrityError struct{ msg string }

func (e *integrityError) Error() string        { return e.msg }
func (e *integrityError) Is(target error) bool { return target == ErrIntegrity }

// The errors a reader returns. Each names a failure, never a key, a wrapped
// key or plaintext.
var (
	// ErrNotArtifact: the bytes do not start with the artifact magic.
	ErrNotArtifact = errors.New("not a Switchboard backup artifact")
	// ErrUnsupportedVersion: the artifact is of a format version this
	// reader does not know.
	ErrUnsupportedVersion = errors.New("unsupported backup artifact format version")
	// ErrKeySize: a data key is not KeySize bytes long.
	ErrKeySize = fmt.Errorf("backup data key must be %d bytes", KeySize)
	// ErrWrongKey: the data key is not the one the artifact was written
	// with (its key check does not match).
	ErrWrongKey = errors.New("the data key is not this backup artifact's key")

	// ErrMalformedHeader: the header breaks the format's layout or bounds.
	ErrMalformedHeader error = &integrityError{"malformed backup artifact header"}
	// ErrHeaderTampered: the key is right but the header's MAC does not
	// match: some header field was changed.
	ErrHeaderTampered error = &integrityError{"backup artifact header failed authentication"}
	// ErrChunkTampered: a chunk failed authentication at its position. It
	// was changed, moved, duplicated, or taken from another artifact.
	ErrChunkTampered error = &integrityError{"chunk failed authentication: it was modified, reordered, duplicated or taken from another artifact"}
	// ErrTruncated: the artifact ends before its final chunk.
	ErrTruncated error = &integrityError{"backup artifact is truncated: it ends before its final chunk"}
	// ErrTrailingData: bytes follow the final chunk.
	ErrTrailingData error = &integrityError{"backup artifact has data after its final chunk"}

	// errEmptyFinal: a final chunk with no plaintext after other chunks,
	// which no conforming writer makes.
	errEmptyFinal error = &integrityError{"empty final chunk after other chunks"}

	// ErrClosed: Write on a Writer that was closed or aborted.
	ErrClosed = errors.New("backup artifact writer is closed")
)

// ChunkError says which chunk a reader refused. Err is ErrChunkTampered,
// ErrTruncated or ErrTrailingData.
type ChunkError struct {
	// Index is the chunk's position, from 0.
	Index uint64
	Err   error
}

func (e *ChunkError) Error() string {
	return fmt.Sprintf("backup artifact chunk %d: %v", e.Index, e.Err)
}

func (e *ChunkError) Unwrap() error { return e.Err }
