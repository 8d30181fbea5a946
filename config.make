# Makefile fragment for nginx's configure: build the Rust static library with cargo.
cat << END >> $NGX_MAKEFILE

# cargo tracks the sources itself: always ask it.
.PHONY: $ngx_auth_jwt_lib

$ngx_auth_jwt_lib:
	NGINX_SOURCE_DIR="\$(CURDIR)" NGINX_BUILD_DIR="\$(CURDIR)/$NGX_OBJS" \\
	$NGX_CARGO rustc \\
		--manifest-path "$ngx_addon_dir/Cargo.toml" \\
		--package ngx_http_auth_jwt_module \\
		--lib --crate-type staticlib \\
		--no-default-features \\
		--profile $ngx_auth_jwt_cargo_profile \\
		--target-dir "\$(CURDIR)/$ngx_auth_jwt_target_dir"

END
