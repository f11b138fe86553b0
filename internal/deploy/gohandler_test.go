package deploy

import (
	"context"
	"debug/elf"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/awstest"
	"github.com/xflowhq/xflow/internal/generator"
	"github.com/xflowhq/xflow/internal/scaffold"
)

// TestDeployGoHandlerOnMoto: the Go handler of `xflow init --runtime
// provided.al2023` deploys with no manual step. Its asset is a linux ELF
// bootstrap for the function's architecture and holds no Go source, and
// the deployed function's code is that asset: Lambda's CodeSize is the
// size of the package the CDK uploaded.
func TestDeployGoHandlerOnMoto(t *testing.T) {
	awsCfg := awstest.Config(t)
	if testing.Short() {
		t.Skip("builds and deploys the CDK app")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	name := strings.ToLower(awstest.Unique("go"))
	dir := filepath.Join(t.TempDir(), name)
	files, err := scaffold.New(scaffold.Options{Name: name, Runtimes: []string{"provided.al2023"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := scaffold.Write(dir, files, false); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "xflow.yaml")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	prefix := strings.ReplaceAll(name, "-", "_") + "_"
	data = []byte(strings.Replace(string(data), "general:\n", "general:\n  name_prefix: "+prefix+"\n", 1))
	if err := os.WriteFile(cfgPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	c := loadConfig(t, cfgPath)
	l := c.Lambdas[0]

	id, err := sts.NewFromConfig(awsCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Direct: true, Version: "test", Out: testWriter{t}, Err: testWriter{t}}
	opts.Context = generator.DefaultContext()
	opts.Context[spec.ContextBootstrapVersionRule] = false
	account := aws.ToString(id.Account)
	if err := Bootstrap(ctx, account, awsCfg.Region, opts); err != nil {
		t.Fatal(err)
	}
	if err := Run(ctx, c, opts); err != nil {
		t.Fatalf("deploy: %v", err)
	}

	// The asset, as the template names it.
	out := filepath.Join(dir, ".xflow", "cdk.out")
	asm, err := generator.ReadAssembly(out)
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Resources map[string]struct {
			Type       string `json:"Type"`
			Properties struct {
				FunctionName any `json:"FunctionName"` // a string, or an intrinsic elsewhere
				Code         struct {
					S3Key any `json:"S3Key"`
				} `json:"Code"`
			} `json:"Properties"`
			Metadata map[string]any `json:"Metadata"`
		} `json:"Resources"`
	}
	b, err := os.ReadFile(asm.Stacks[0].Template)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	fnName := prefix + l.Name
	var asset, key string
	for _, r := range tpl.Resources {
		if r.Type == "AWS::Lambda::Function" && r.Properties.FunctionName == fnName {
			asset, _ = r.Metadata["aws:asset:path"].(string)
			key, _ = r.Properties.Code.S3Key.(string)
		}
	}
	if asset == "" || key == "" {
		t.Fatalf("function %s: asset %q, S3 key %q in %s", fnName, asset, key, asm.Stacks[0].Template)
	}
	var entries []string
	filepath.WalkDir(filepath.Join(out, asset), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			entries = append(entries, d.Name())
		}
		return err
	})
	if strings.Join(entries, " ") != "bootstrap" {
		t.Errorf("the asset holds %v, want bootstrap alone (no Go source)", entries)
	}
	f, err := elf.Open(filepath.Join(out, asset, "bootstrap"))
	if err != nil {
		t.Fatalf("the asset's bootstrap is not an ELF binary: %v", err)
	}
	machine := elf.EM_X86_64
	if l.Architecture == "arm64" {
		machine = elf.EM_AARCH64
	}
	if f.Machine != machine {
		t.Errorf("bootstrap is for %v, want %v (architecture %s)", f.Machine, machine, l.Architecture)
	}
	f.Close()

	// What Lambda runs is what the CDK uploaded.
	fn, err := lambda.NewFromConfig(awsCfg).GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(fnName)})
	if err != nil {
		t.Fatal(err)
	}
	bucket := "cdk-hnb659fds-assets-" + account + "-" + awsCfg.Region
	obj, err := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true }).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("the uploaded asset s3://%s/%s: %v", bucket, key, err)
	}
	zipped, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := fn.Configuration.CodeSize; got != int64(len(zipped)) || got == 0 {
		t.Errorf("the function's code size is %d, the uploaded asset's %d", got, len(zipped))
	}
	if rt := fn.Configuration.Runtime; string(rt) != "provided.al2023" {
		t.Errorf("runtime %s", rt)
	}
}
