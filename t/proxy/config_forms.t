# Drop-in: every way of wiring mod_proxy_fcgi to php-fpm keeps working.
# Each form lives in a vhost of its own (t/conf/extra.conf.in); each is
# asked for env.php with path info and a query string, and must reach the
# right php-fpm pool with the script resolved to the real file.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);

my $doc = docroot();
my $script = "$doc/php/env.php";

# vhost, request path, SCRIPT_NAME php-fpm reports, pools that may answer
my @forms = (
    ['vf_unix',      'SetHandler proxy:unix:...|fcgi://localhost',
     '/php/env.php/x/y?q=1&r=2',    '/php/env.php',    ['www']],
    ['vf_tcp',       'SetHandler proxy:fcgi://127.0.0.1:PORT',
     '/php/env.php/x/y?q=1&r=2',    '/php/env.php',    ['www-tcp']],
    ['vf_proxypass', 'ProxyPass /app/ fcgi://127.0.0.1:PORT/DOCROOT/php/',
     '/app/env.php/x/y?q=1&r=2',    '/app/env.php',    ['www-tcp']],
    ['vf_pmatch',    'ProxyPassMatch ^/pm/(.*\.php(/.*)?)$ fcgi://...',
     '/pm/php/env.php/x/y?q=1&r=2', '/pm/php/env.php', ['www-tcp']],
    ['vf_rewrite',   'RewriteRule ... fcgi://... [P]',
     '/rw/php/env.php/x/y?q=1&r=2', '/rw/php/env.php', ['www-tcp']],
    # stock: SCRIPT_NAME is the action URL plus the script's URL (what
    # php-fpm derives from the redirected request), not /php/env.php.
    ['vf_action',    'Action php-script /php-fcgi virtual + SetHandler',
     '/php/env.php/x/y?q=1&r=2',    '/php-fcgi/php/env.php', ['www']],
    ['vf_balancer',  '<Proxy balancer://php> with two fcgi:// members',
     '/php/env.php/x/y?q=1&r=2',    '/php/env.php',    ['www-tcp', 'www2']],
);

plan tests => @forms * 8 + 4 + 4;

for my $f (@forms) {
    my ($vhost, $form, $path, $script_name, $pools) = @$f;
    my ($res, $env) = get_env($vhost, $path);
    my ($uri, $query) = split /\?/, $path, 2;

    is($res->{status}, 200, "$form: env.php answers 200");
    is($env->{SCRIPT_FILENAME}, $script, "$form: SCRIPT_FILENAME is the real file");
    is($env->{SCRIPT_NAME}, $script_name, "$form: SCRIPT_NAME");
    is($env->{PATH_INFO}, '/x/y', "$form: PATH_INFO");
    is($env->{REQUEST_URI}, $path, "$form: REQUEST_URI is the client's");
    is($env->{QUERY_STRING}, $query, "$form: QUERY_STRING");
    ok((grep { ($env->{VF_POOL} // '') eq $_ } @$pools),
       "$form: served by pool @$pools")
        or diag("VF_POOL=" . ($env->{VF_POOL} // '(none)'));

    my $hello = raw_request($vhost, 'GET', $path =~ m{^/app/} ? '/app/hello.php'
                                         : $path =~ m{^/pm/}  ? '/pm/php/hello.php'
                                         : $path =~ m{^/rw/}  ? '/rw/php/hello.php'
                                         : '/php/hello.php');
    like($hello->{body}, qr/^hello from php pool /, "$form: hello.php runs");
}

# The balancer spreads requests over both members (byrequests: alternating).
{
    my %seen;
    for (1 .. 6) {
        my ($res, $env) = get_env('vf_balancer', '/php/env.php');
        $seen{ $env->{VF_POOL} // 'none' }++ if $res->{status} == 200;
    }
    ok($seen{'www-tcp'}, 'balancer: member 1 (pool www-tcp) got requests');
    ok($seen{'www2'}, 'balancer: member 2 (pool www2) got requests')
        or diag(join ', ', map { "$_=$seen{$_}" } sort keys %seen);
}

# A non-script file next to the scripts is still served by httpd itself.
{
    my $res = raw_request('vf_unix', 'GET', '/static.html');
    is($res->{status}, 200, 'SetHandler vhost: static file served');
    like($res->{body}, qr/static ok/, 'SetHandler vhost: static file content');
}

# Two different sockets, both written "fcgi://localhost" (vhost vf_shared):
# each request reaches its own socket, whatever was used before.
SKIP: {
    skip 'fcgi-misbehave not built', 4 unless misbehave_available();
    for my $round (1, 2) {
        my $php = raw_request('vf_shared', 'GET', '/php/hello.php');
        like($php->{body}, qr/^hello from php pool www$/m,
             "shared fcgi://localhost, round $round: *.php reaches php-fpm's socket");
        my $mb = raw_request('vf_shared', 'GET', '/mbh/echo.php');
        like($mb->{body}, qr/^STDIN_BYTES=0$/m,
             "shared fcgi://localhost, round $round: /mbh/ reaches fcgi-misbehave's socket");
    }
}
