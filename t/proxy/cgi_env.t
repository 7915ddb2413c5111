# The CGI/1.1 environment php-fpm sees (RFC 3875 section 4.1), for the
# drop-in SetHandler form; ProxyFCGISetEnvIf and ProxyFCGIBackendType
# GENERIC as mod_proxy_fcgi defines them; and no HTTP_PROXY (httpoxy).
#
# HTTPS is not tested: the suite runs no TLS listener (only checked to be
# absent or "off" on plain HTTP).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);

plan tests => 51;

my $doc = docroot();
my $port = vhost_port('vf_unix');

# --- a GET with path info, a query string and assorted headers ----------
my ($res, $env) = get_env('vf_unix', '/php/env.php/extra/path?a=1&b=two',
    headers => [
        'User-Agent'    => 'vhostfcgi-test/1.0',
        'X-Test-Header' => 'hello world',
        'X-Multi'       => 'one',
        'X-Multi'       => 'two',
        'Proxy'         => 'http://evil.example:3128',
        'Cookie'        => 'k=v',
    ]);
is($res->{status}, 200, 'env.php answers 200');

is($env->{GATEWAY_INTERFACE}, 'CGI/1.1',              'GATEWAY_INTERFACE');
is($env->{FCGI_ROLE},         'RESPONDER',            'FCGI_ROLE');
is($env->{REQUEST_METHOD},    'GET',                  'REQUEST_METHOD');
is($env->{SCRIPT_FILENAME},   "$doc/php/env.php",     'SCRIPT_FILENAME');
is($env->{SCRIPT_NAME},       '/php/env.php',         'SCRIPT_NAME');
is($env->{PATH_INFO},         '/extra/path',          'PATH_INFO');
# mod_proxy_fcgi sends PATH_INFO under DOCUMENT_ROOT, which php-fpm with
# cgi.fix_pathinfo=0 would run; with the script check on (the default)
# the module sends none (t/pools/13-dropin-pathinfo.t).
if (is_stock()) {
    is($env->{PATH_TRANSLATED}, "$doc/extra/path", 'PATH_TRANSLATED is PATH_INFO under DOCUMENT_ROOT');
}
else {
    ok(!defined $env->{PATH_TRANSLATED}, 'no PATH_TRANSLATED (the script check is on)');
}
is($env->{DOCUMENT_ROOT},     $doc,                   'DOCUMENT_ROOT');
is($env->{REQUEST_URI},       '/php/env.php/extra/path?a=1&b=two', 'REQUEST_URI');
is($env->{QUERY_STRING},      'a=1&b=two',            'QUERY_STRING');
is($env->{REQUEST_SCHEME},    'http',                 'REQUEST_SCHEME');
is($env->{SERVER_NAME},       'localhost',            'SERVER_NAME');
is($env->{SERVER_PORT},       $port,                  'SERVER_PORT is the vhost port');
is($env->{SERVER_PROTOCOL},   'HTTP/1.1',             'SERVER_PROTOCOL');
like($env->{SERVER_SOFTWARE} // '', qr{^Apache/2\.4},  'SERVER_SOFTWARE');
is($env->{SERVER_ADDR},       '127.0.0.1',            'SERVER_ADDR');
is($env->{REMOTE_ADDR},       '127.0.0.1',            'REMOTE_ADDR');
is($env->{REMOTE_PORT},       $res->{local_port},     'REMOTE_PORT is the client socket port');
ok(!defined $env->{CONTENT_LENGTH} || $env->{CONTENT_LENGTH} eq '' || $env->{CONTENT_LENGTH} eq '0',
   'no CONTENT_LENGTH for a GET without body');
ok(!defined $env->{HTTPS} || lc $env->{HTTPS} eq 'off', 'HTTPS not on over plain HTTP');
is($env->{HTTP_HOST},          'localhost',            'HTTP_HOST');
is($env->{HTTP_USER_AGENT},    'vhostfcgi-test/1.0',   'HTTP_USER_AGENT');
is($env->{HTTP_X_TEST_HEADER}, 'hello world',          'HTTP_X_TEST_HEADER');
is($env->{HTTP_X_MULTI},       'one, two',             'repeated request header joined with ", "');
is($env->{HTTP_COOKIE},        'k=v',                  'HTTP_COOKIE');
ok(!exists $env->{HTTP_PROXY}, 'httpoxy: request header Proxy does not become HTTP_PROXY');

# --- what goes over the wire, before php-fpm's own fix-ups ---------------
SKIP: {
    skip 'fcgi-misbehave not built', 6 unless misbehave_available();
    my ($r, $e) = get_env('vf_fault', '/mb/echo?x=1', headers => [Proxy => 'evil']);
    is($r->{status}, 200, 'fcgi-misbehave echo answers');
    ok(!exists $e->{HTTP_PROXY}, 'httpoxy: no HTTP_PROXY param on the wire');

    # SetHandler form (vhost vf_shared, t/htdocs/mbh/echo.php).
    # stock: SCRIPT_FILENAME is "proxy:fcgi://localhost" + the real path
    # (ProxyFCGIBackendType FPM; php-fpm strips the prefix); the real path
    # alone is just as good for php-fpm.
    # stock: also sends the internal note "proxy-nokeepalive=1" as a param.
    ($r, $e) = get_env('vf_shared', '/mbh/echo.php/x?q');
    like($e->{SCRIPT_FILENAME} // '', qr{^(?:proxy:fcgi://localhost)?\Q$doc/mbh/echo.php\E$},
         'wire: SCRIPT_FILENAME is the real script');
    is($e->{SCRIPT_NAME}, '/mbh/echo.php', 'wire: SCRIPT_NAME');
    is($e->{PATH_INFO}, '/x', 'wire: PATH_INFO');
    is($e->{REQUEST_URI}, '/mbh/echo.php/x?q', 'wire: REQUEST_URI');
}

# --- escaping: REQUEST_URI and QUERY_STRING raw, PATH_INFO decoded --------
($res, $env) = get_env('vf_unix', '/php/env.php/a%20b/c?x=%41%20y');
is($env->{REQUEST_URI},  '/php/env.php/a%20b/c?x=%41%20y', 'REQUEST_URI stays URL-encoded');
is($env->{QUERY_STRING}, 'x=%41%20y',                      'QUERY_STRING stays URL-encoded');
is($env->{PATH_INFO},    '/a b/c',                         'PATH_INFO is decoded');

# --- a POST: CONTENT_TYPE and CONTENT_LENGTH ------------------------------
my $form = 'field=value&other=' . ('x' x 1000);
($res, $env) = get_env('vf_unix', '/php/env.php', method => 'POST', body => $form,
    headers => ['Content-Type' => 'application/x-www-form-urlencoded']);
is($res->{status}, 200, 'POST to env.php answers 200');
is($env->{REQUEST_METHOD}, 'POST', 'REQUEST_METHOD POST');
is($env->{CONTENT_TYPE}, 'application/x-www-form-urlencoded', 'CONTENT_TYPE');
is($env->{CONTENT_LENGTH}, length($form), 'CONTENT_LENGTH');

# --- ProxyFCGISetEnvIf (vhost vf_envif) -----------------------------------
($res, $env) = get_env('vf_envif', '/php/env.php?setme',
    headers => ['X-Drop-Me' => 'gone', 'X-Keep-Me' => 'kept']);
is($res->{status}, 200, 'ProxyFCGISetEnvIf vhost answers 200');
is($env->{X_CUSTOM}, 'v', 'ProxyFCGISetEnvIf "true" X_CUSTOM "v" arrives');
is($env->{X_FROM_VAR}, 'uri=/php/env.php', 'ProxyFCGISetEnvIf value interpolates %{REQUEST_URI}');
is($env->{X_COND}, '1', 'ProxyFCGISetEnvIf with a true expression sets the variable');
ok(!exists $env->{HTTP_X_DROP_ME}, 'ProxyFCGISetEnvIf "!HTTP_X_DROP_ME" unsets it');
is($env->{HTTP_X_KEEP_ME}, 'kept', 'other headers still arrive');
($res, $env) = get_env('vf_envif', '/php/env.php?other');
ok(!exists $env->{X_COND}, 'ProxyFCGISetEnvIf with a false expression sets nothing');

# --- ProxyFCGIBackendType GENERIC (vhost vf_generic, ProxyPass /app/) -----
# GENERIC hands the backend the path as it is, without the php-fpm specific
# treatment of path info; php-fpm, left to guess, reports the values below.
# stock: with GENERIC php-fpm sees no PATH_INFO, and SCRIPT_NAME includes
# the path info; this is mod_proxy_fcgi's (and php-fpm's) behaviour.
($res, $env) = get_env('vf_generic', '/app/env.php/x?q');
is($res->{status}, 200, 'ProxyFCGIBackendType GENERIC: env.php answers 200');
is($env->{SCRIPT_FILENAME}, "$doc/php/env.php", 'GENERIC: SCRIPT_FILENAME (php-fpm resolves it)');
is($env->{SCRIPT_NAME}, '/app/env.php/x', 'GENERIC: SCRIPT_NAME includes the path info');
ok(!exists $env->{PATH_INFO}, 'GENERIC: no PATH_INFO');
