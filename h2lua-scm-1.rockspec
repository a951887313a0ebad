-- luarocks make (from a checkout): builds with the project's own autotools
-- build in a copy of the tree (.rockbuild/, so the checkout's own
-- configuration is left alone) and installs the modules (http2, h2lua and
-- the C engine h2lua_core) and the h2lua program into the rocks tree.
-- Needs the Debian packages ./bootstrap lists (the build part).
rockspec_format = "3.0"
package = "h2lua"
version = "scm-1"
source = {
  url = "git+file:///dev/null", -- luarocks make builds the checkout it runs in
}
description = {
  summary = "An HTTP/2 server runtime: Node.js's http2 API in Lua 5.4 on libnghttp2 and libevent",
}
dependencies = {
  "lua == 5.4",
}
build = {
  type = "command",
  build_command = [[
set -e
rm -rf .rockbuild
mkdir .rockbuild
tar -cf - --exclude=./.rockbuild --exclude=./.git --exclude=./build-asan --exclude=./fuzz/build \
  --exclude=./sanitizer-logs . | tar -xf - -C .rockbuild
cd .rockbuild
if [ -f Makefile ]; then make -s distclean >/dev/null; fi
if [ ! -x configure ]; then autoreconf -fi; fi
./configure --quiet --prefix="$(PREFIX)" --with-lua-dir="$(LUADIR)" --with-lua-cdir="$(LIBDIR)"
make -s -j2
]],
  install_command = [[
set -e
cd .rockbuild
make -s install
cd ..
rm -rf .rockbuild
]],
}
