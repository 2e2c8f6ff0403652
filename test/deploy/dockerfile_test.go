package deploy

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/test/harness"
)

// TestDockerfilesBuild does what a container engine would do with the builder
// stage of each Dockerfile, without one (there is none here): it copies
// what the COPY lines take from the build context into an empty directory
// and runs the RUN lines there. (.dockerignore is not applied: it excludes
// nothing that the COPY lines take.) A file the build needs but the
// Dockerfile does not copy fails it. It then checks that the binary is
// static, as the distroless base needs, and that the final stage runs it as
// the non-root user the manifests expect.
func TestDockerfilesBuild(t *testing.T) {
	root, err := harness.Root()
	if err != nil {
		t.Fatal(err)
	}
	for _, df := range []string{"Dockerfile", "runtime/Dockerfile"} {
		t.Run(df, func(t *testing.T) {
			stages := parseDockerfile(t, filepath.Join(root, df))
			if len(stages) != 2 {
				t.Fatalf("want a builder and a final stage, got %d stages", len(stages))
			}
			builder, final := stages[0], stages[1]
			ctxDir := t.TempDir() // the builder's filesystem root
			outDir := t.TempDir() // where its binary lands
			workdir := "/"
			for _, in := range builder.instructions {
				switch in.op {
				case "WORKDIR":
					workdir = in.args
				case "COPY":
					f := strings.Fields(in.args)
					dst := f[len(f)-1]
					for _, src := range f[:len(f)-1] {
						copyPath(t, filepath.Join(root, src), filepath.Join(ctxDir, inside(workdir, dst, filepath.Join(root, src))))
					}
				case "RUN":
					run := in.args
					if strings.TrimSpace(run) == "go mod download" {
						continue // the module cache here already holds them
					}
					// The build writes to the image root; here, to outDir.
					run = strings.ReplaceAll(run, " -o /", " -o "+outDir+"/")
					cmd := exec.Command("sh", "-c", run)
					cmd.Dir = filepath.Join(ctxDir, workdir)
					// As in the golang image: no workspace or flags from this machine.
					cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
					if out, err := cmd.CombinedOutput(); err != nil {
						t.Fatalf("RUN %s: %v\n%s", in.args, err, out)
					}
				default:
					t.Fatalf("the builder stage has %s, which this test does not emulate; teach it", in.op)
				}
			}

			var entry []string
			var user string
			for _, in := range final.instructions {
				switch in.op {
				case "ENTRYPOINT":
					if err := json.Unmarshal([]byte(in.args), &entry); err != nil || len(entry) == 0 {
						t.Fatalf("ENTRYPOINT %s: want the exec form", in.args)
					}
				case "USER":
					user = in.args
				case "COPY":
					f := strings.Fields(in.args)
					if len(f) != 3 || f[0] != "--from=builder" {
						t.Fatalf("final stage COPY %s: want --from=builder <src> <dst>", in.args)
					}
					if _, err := os.Stat(filepath.Join(outDir, f[1])); err != nil {
						t.Fatalf("the final stage copies %s, which the builder did not make", f[1])
					}
				}
			}
			if len(entry) == 0 {
				t.Fatal("the final stage has no ENTRYPOINT")
			}
			if user != "65532:65532" {
				t.Errorf("USER %q, want 65532:65532 (the manifests' runAsUser)", user)
			}
			bin := filepath.Join(outDir, entry[0])
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatalf("ENTRYPOINT %s: %v", entry[0], err)
			}
			defer f.Close()
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("%s is dynamically linked; distroless/static has no libc", entry[0])
				}
			}
		})
	}
}

type dockerStage struct {
	instructions []dockerInstruction
}

type dockerInstruction struct{ op, args string }

// parseDockerfile reads instructions, joining continued lines and dropping comments.
func parseDockerfile(t *testing.T, path string) []dockerStage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages []dockerStage
	var line string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			line += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		line += l
		op, args, _ := strings.Cut(line, " ")
		line = ""
		op = strings.ToUpper(op)
		if op == "FROM" {
			stages = append(stages, dockerStage{})
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("%s before FROM", op)
		}
		s := &stages[len(stages)-1]
		s.instructions = append(s.instructions, dockerInstruction{op, strings.TrimSpace(args)})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return stages
}

// inside is where COPY puts src: dst is relative to the working directory,
// and a destination ending in / is a directory the source goes into.
func inside(workdir, dst, src string) string {
	isDir := strings.HasSuffix(dst, "/") || dst == "."
	if !filepath.IsAbs(dst) {
		dst = filepath.Join(workdir, dst)
	}
	if isDir {
		if st, err := os.Stat(src); err == nil && !st.IsDir() {
			return filepath.Join(dst, filepath.Base(src))
		}
	}
	return dst
}

func copyPath(t *testing.T, src, dst string) {
	t.Helper()
	if _, err := os.Stat(src); err != nil {
		t.Fatalf("COPY source %s: %v", src, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-R", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("copying %s: %v\n%s", src, err, out)
	}
}
