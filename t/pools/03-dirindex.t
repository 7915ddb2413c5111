# DirectoryIndex picks whichever index file exists, in either order, with
# the pool chosen after the walk: "index.php index.html" and
# "index.html index.php", each with only index.php or only index.html
# present (the 4 combinations).  With a URL-based setup, "index.php
# index.html" picks index.php even where only index.html exists.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(:all);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan tests => 4 * 3 + 3 + 4;

my $doc = site_doc('a');
my $mark = access_mark('site-a');
for my $order (['idx-php-first', 'index.php index.html'],
               ['idx-html-first', 'index.html index.php']) {
    my ($dir, $di) = @$order;
    my $res = raw_request('vf_site_a', 'GET', "/$dir/only-php/");
    is($res->{status}, 200, "DirectoryIndex $di, only index.php: 200");
    ok(marker_ran($res, 'INDEX-PHP-RAN'), "DirectoryIndex $di, only index.php: index.php ran")
        or diag($res->{body});
    like($res->{body}, qr{^X_SCRIPT=\Q$dir\E/only-php/index\.php$}m,
         "DirectoryIndex $di, only index.php: the right script");

    $res = raw_request('vf_site_a', 'GET', "/$dir/only-html/");
    is($res->{status}, 200, "DirectoryIndex $di, only index.html: 200");
    is($res->{body}, "INDEX-HTML static ($dir)\n", "DirectoryIndex $di, only index.html: index.html served");
    like($res->{header}{'content-type'} // '', qr{^text/html},
         "DirectoryIndex $di, only index.html: as text/html");
}
# The vhost's own "DirectoryIndex index.php index.html" at the site root,
# where only index.html exists.
{
    my $res = raw_request('vf_site_a', 'GET', '/');
    is($res->{status}, 200, 'site root (index.php index.html, only index.html): 200');
    like($res->{body}, qr/site A home/, 'site root: index.html served');
    $res = raw_request('vf_site_a', 'GET', '/idx-php-first/only-php');
    is($res->{status}, 301, 'directory without the slash: mod_dir redirects as usual');
}

my $log = access_settle('vf_site_a', 'site-a', $mark);
ok(defined $log, "site-a's access log shows the sentinel request");
my @html = (access_lines_for($log, '/idx-php-first/only-html'),
            access_lines_for($log, '/idx-html-first/only-html'),
            grep { /^\S+ \/ / } split /\n/, $log // '');
is(scalar @html, 0, 'the only-index.html directories never reached php-fpm')
    or diag(join "\n", @html);
my @php = (access_lines_for($log, '/idx-php-first/only-php/'),
           access_lines_for($log, '/idx-html-first/only-php/'));
is(scalar @php, 2, 'each only-index.php request reached php-fpm once') or diag($log);
ok(!grep({ !m{script=\Q$doc\E/idx-[a-z]+-first/only-php/index\.php } } @php),
   'php-fpm ran the index.php files') or diag(join "\n", @php);
