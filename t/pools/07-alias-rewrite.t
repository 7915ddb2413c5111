# Alias and RewriteRule targets are checked on the real file, and rewrites
# need no [PT]: an Alias to a directory with a .php runs it; a missing
# script behind an Alias or a rewrite is a 404 with no backend contact; a
# rewrite to a .gif serves the GIF, never runs it.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(:all);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan tests => 6 + 2 + 3 + 2 + 4 + 2 + 4 + 4;

my $doc = site_doc('a');
my $extra = site_extra();
my $gif = do { local $/; open my $fh, '<:raw', "$doc/uploads/evil.gif" or die $!; <$fh> };
my $mark = access_mark('site-a');

# Alias /aliased/ -> site A's extra/ (outside the DocumentRoot).
{
    my ($res, $env) = get_env('vf_site_a', '/aliased/run.php/p?z=2');
    is($res->{status}, 200, 'Alias: /aliased/run.php answers 200');
    is($env->{X_SCRIPT}, 'extra/run.php', 'Alias: the aliased script ran');
    is($env->{SCRIPT_FILENAME}, "$extra/run.php", 'Alias: SCRIPT_FILENAME is the real file');
    is($env->{SCRIPT_NAME}, '/aliased/run.php', 'Alias: SCRIPT_NAME is the URL');
    is($env->{PATH_INFO}, '/p', 'Alias: PATH_INFO');
    is($env->{X_POOL}, 'site-a', "Alias: in the vhost's pool");
}
{
    my $res = raw_request('vf_site_a', 'GET', '/aliased/missing.php');
    is($res->{status}, 404, 'Alias: a missing script: 404');
    like($res->{body}, qr/Not Found/, 'Alias: httpd\'s own 404');
}
{
    my $res = raw_request('vf_site_a', 'GET', '/aliased/pic.gif/x.php');
    ok(!evil_ran($res), 'Alias: pic.gif/x.php does not run the code in pic.gif');
    is($res->{status}, 404, 'Alias: pic.gif/x.php: 404');
    $res = raw_request('vf_site_a', 'GET', '/aliased/pic.gif');
    ok($res->{status} == 200 && $res->{body} eq $gif, 'Alias: pic.gif served as a file');
}
# RewriteRule (server context, no [PT]).
{
    my $res = raw_request('vf_site_a', 'GET', '/rw/missing');
    is($res->{status}, 404, 'RewriteRule to a missing .php: 404');
    like($res->{body}, qr/Not Found/, 'RewriteRule to a missing .php: httpd\'s own 404');
}
{
    my $res = raw_request('vf_site_a', 'GET', '/rw/gif');
    is($res->{status}, 200, 'RewriteRule to evil.gif: 200');
    like($res->{header}{'content-type'} // '', qr{^image/gif}, 'RewriteRule to evil.gif: as image/gif');
    is($res->{body}, $gif, 'RewriteRule to evil.gif: the file itself');
    ok(!evil_ran($res), 'RewriteRule to evil.gif: not run');
}
{
    my $res = raw_request('vf_site_a', 'GET', '/rw/gifpath');
    ok(!evil_ran($res), 'RewriteRule to evil.gif/x.php: not run');
    is($res->{status}, 404, 'RewriteRule to evil.gif/x.php: 404');
}
{
    my ($res, $env) = get_env('vf_site_a', '/rw/script?k=v');
    is($res->{status}, 200, 'RewriteRule to /s.php without [PT]: 200');
    is($env->{X_SCRIPT}, 's.php', 'RewriteRule to /s.php: s.php ran');
    is($env->{SCRIPT_FILENAME}, "$doc/s.php", 'RewriteRule to /s.php: SCRIPT_FILENAME');
    is($env->{QUERY_STRING}, 'k=v', 'RewriteRule to /s.php: the query string kept');
}

my $log = access_settle('vf_site_a', 'site-a', $mark);
ok(defined $log, "site-a's access log shows the sentinel request");
my @hits = (access_lines_for($log, '/aliased/missing.php'), access_lines_for($log, '/aliased/pic.gif'),
            access_lines_for($log, '/rw/missing'), access_lines_for($log, '/rw/gif'));
is(scalar @hits, 0, 'the missing scripts and the GIFs never reached php-fpm') or diag(join "\n", @hits);
is(scalar(access_lines_for($log, '/aliased/run.php')), 1, 'the aliased script reached php-fpm once');
is(scalar(access_lines_for($log, '/rw/script')), 1, 'the rewritten script reached php-fpm once');
