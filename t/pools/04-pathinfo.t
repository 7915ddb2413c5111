# /s.php/a/b?q=1: what PHP sees in SCRIPT_FILENAME, SCRIPT_NAME, PATH_INFO
# and PATH_TRANSLATED, exactly, with php-fpm's cgi.fix_pathinfo = 1 (pool
# site-a) and = 0 (pool site-b).  DESIGN: the backend never has to guess,
# and PATH_TRANSLATED is omitted or derived so that no backend setting can
# turn /s.php/private/other.php into running other.php (with
# cgi.fix_pathinfo = 0 php-fpm runs the file PATH_TRANSLATED names).  So
# PATH_TRANSLATED, where sent, is PATH_INFO under DOCUMENT_ROOT, and the
# script that runs is always s.php.  Where AcceptPathInfo Off applies, a
# path after the script is a 404 (as mod_cgi answers), pool or drop-in.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(:all);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan tests => 2 * (11 + 4) + 2 * 2 + 4 * 3 + 1;

for my $site (['vf_site_a', 'a', 1], ['vf_site_b', 'b', 0]) {
    my ($vhost, $s, $fix) = @$site;
    my $doc = site_doc($s);
    my $what = "site $s (cgi.fix_pathinfo=$fix)";
    my ($res, $env) = get_env($vhost, '/s.php/a/b?q=1');
    is($res->{status}, 200, "$what: /s.php/a/b?q=1 answers 200")
        or diag(substr $res->{body}, 0, 500);
    is($env->{X_RAN}, 'SCRIPT-RAN', "$what: s.php ran");
    is($env->{X_FIX_PATHINFO}, $fix, "$what: the pool runs with cgi.fix_pathinfo=$fix");
    is($env->{SCRIPT_FILENAME}, "$doc/s.php", "$what: SCRIPT_FILENAME");
    is($env->{SCRIPT_NAME}, '/s.php', "$what: SCRIPT_NAME");
    is($env->{PATH_INFO}, '/a/b', "$what: PATH_INFO");
    my $pt = $env->{PATH_TRANSLATED};
    my $ran = ($env->{X_RAN} // '') eq 'SCRIPT-RAN';
    ok($ran && (!defined $pt || $pt eq "$doc/a/b"),
       "$what: PATH_TRANSLATED is absent or PATH_INFO under DOCUMENT_ROOT")
        or diag($ran ? "PATH_TRANSLATED=$pt" : 's.php did not run');
    note("$what: PATH_TRANSLATED " . (!$ran ? '(s.php did not run)' : defined $pt ? "= $pt" : 'absent'));
    is($env->{DOCUMENT_ROOT}, $doc, "$what: DOCUMENT_ROOT");
    is($env->{REQUEST_URI}, '/s.php/a/b?q=1', "$what: REQUEST_URI");
    is($env->{QUERY_STRING}, 'q=1', "$what: QUERY_STRING");
    ok($ran && !defined $env->{ORIG_SCRIPT_FILENAME} && !defined $env->{ORIG_PATH_INFO},
       "$what: php-fpm did not have to fix anything up (no ORIG_*)")
        or diag("ORIG_SCRIPT_FILENAME=" . ($env->{ORIG_SCRIPT_FILENAME} // '') .
                " ORIG_PATH_INFO=" . ($env->{ORIG_PATH_INFO} // ''));

    # The path info names another script (and, on site A, the upload).
    ($res, $env) = get_env($vhost, '/s.php/private/other.php');
    is($res->{status}, 200, "$what: /s.php/private/other.php answers 200");
    ok(!marker_ran($res, 'OTHER-RAN'), "$what: /s.php/private/other.php does not run other.php")
        or diag($res->{body});
    is($env->{X_SCRIPT}, 's.php', "$what: /s.php/private/other.php runs s.php");
    ($res, $env) = get_env($vhost, '/s.php/uploads/evil.gif');
    ok(!evil_ran($res) && ($env->{X_SCRIPT} // '') eq 's.php',
       "$what: /s.php/uploads/evil.gif runs s.php, not evil.gif")
        or diag("$res->{status}: $res->{body}");
}

# Without path info: PATH_INFO and PATH_TRANSLATED are absent (or empty);
# and the pools run with the cgi.fix_pathinfo the fixture gave them.
for my $site (['vf_site_a', 1], ['vf_site_b', 0]) {
    my ($vhost, $fix) = @$site;
    my ($res, $env) = get_env($vhost, '/s.php');
    is($env->{X_FIX_PATHINFO}, $fix, "$vhost: its pool runs with cgi.fix_pathinfo=$fix");
    ok($res->{status} == 200 && !length($env->{PATH_INFO} // '')
       && !length($env->{PATH_TRANSLATED} // ''),
       "$vhost /s.php: no PATH_INFO, no PATH_TRANSLATED")
        or diag("$res->{status} PATH_INFO=" . ($env->{PATH_INFO} // '(none)') .
                " PATH_TRANSLATED=" . ($env->{PATH_TRANSLATED} // '(none)'));
}

# AcceptPathInfo Off: /nopi/s.php runs, /nopi/s.php/extra is a 404 that
# never reaches the backend, and the error log says why.
for my $vhost (qw(vf_site_a vf_site_b vf_site_b_dropin vf_site_a_off)) {
    my ($res, $env) = get_env($vhost, '/nopi/s.php');
    is($res->{status}, 200, "$vhost AcceptPathInfo Off: /nopi/s.php runs")
        or diag(substr $res->{body}, 0, 300);
    my $mark = log_mark();
    $res = raw_request($vhost, 'GET', '/nopi/s.php/extra');
    ok($res->{status} == 404 && !marker_ran($res, 'SCRIPT-RAN'),
       "$vhost AcceptPathInfo Off: /nopi/s.php/extra is 404, not run")
        or diag("$res->{status}: " . substr $res->{body}, 0, 300);
    ok(log_wait_for($mark, qr{AH10726: .*nopi/s\.php/extra: AcceptPathInfo Off}),
       "$vhost: the error log says AcceptPathInfo Off refused it");
}

# With the check off, httpd's path info is only where its walk stopped on
# disk: /nopi/missing/x.php names a script and nothing after it, so it goes
# to the backend (which finds no file), not refused as a path after one.
{
    my $mark = log_mark();
    my $res = raw_request('vf_site_a_off', 'GET', '/nopi/missing/x.php');
    my $log = log_since($mark);
    ok($res->{status} == 404 && $log !~ /AH10726/,
       'check off, AcceptPathInfo Off: /nopi/missing/x.php is the backend\'s 404, not AH10726')
        or diag("$res->{status}: " . join("\n", grep { /AH1/ } split /\n/, $log));
}
