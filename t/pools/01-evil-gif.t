# /uploads/evil.gif/x.php, where evil.gif is a GIF with PHP code inside
# (an upload), is never executed -- even though site A's php-fpm pool has
# cgi.fix_pathinfo = 1 and security.limit_extensions = .php .gif, the
# setup in which ProxyPassMatch "\.php(/.*)?$" runs it (t/pools/12-check-off.t
# shows that).  The resolved file is evil.gif with PATH_INFO /x.php: httpd
# answers as for any GIF (404 for the path info, or the file itself), and
# php-fpm never sees the request (its access log).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(:all);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan tests => 13;

my $doc = site_doc('a');
my $raw = do { local $/; open my $fh, '<:raw', "$doc/uploads/evil.gif" or die $!; <$fh> };

my $mark = access_mark('site-a');
my @cases = (
    ['/uploads/evil.gif/x.php',       'evil.gif/x.php'],
    ['/uploads/evil.gif/x.php?a=1',   'evil.gif/x.php with a query'],
    ['/uploads/evil.gif/a/b/x.php',   'evil.gif/a/b/x.php'],
);
for my $c (@cases) {
    my ($path, $what) = @$c;
    my $res = raw_request('vf_site_a', 'GET', $path);
    ok(!evil_ran($res), "$what: the PHP code in evil.gif did not run")
        or diag("$path -> $res->{status}:\n$res->{body}");
    ok($res->{status} == 404 || ($res->{status} == 200 && $res->{body} eq $raw),
       "$what: httpd answers as for a GIF (404 for the path info, or the file)")
        or diag("$path -> $res->{status}");
    note("$path -> $res->{status}");
}
# POST too (a form posting to the "script").
{
    my $res = raw_request('vf_site_a', 'POST', '/uploads/evil.gif/x.php', body => 'a=1',
        headers => ['Content-Type' => 'application/x-www-form-urlencoded']);
    ok(!evil_ran($res), 'POST evil.gif/x.php: not run') or diag($res->{body});
    isnt($res->{status}, 200, "POST evil.gif/x.php: not 200 ($res->{status})");
}

# The GIF itself is a static file.
{
    my $res = raw_request('vf_site_a', 'GET', '/uploads/evil.gif');
    is($res->{status}, 200, '/uploads/evil.gif: 200');
    like($res->{header}{'content-type'} // '', qr{^image/gif}, '/uploads/evil.gif: served as image/gif');
    ok($res->{body} eq $raw && !evil_ran($res), '/uploads/evil.gif: the raw file, not run');
}

# None of it reached php-fpm.
my $log = access_settle('vf_site_a', 'site-a', $mark);
ok(defined $log, "site-a's access log shows the sentinel request (the log works)");
my @hits = access_lines_for($log, '/uploads/evil.gif');
is(scalar @hits, 0, 'php-fpm pool site-a never saw a request for evil.gif')
    or diag(join "\n", @hits);
