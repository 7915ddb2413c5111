# The drop-in (SetHandler "proxy:unix:...|fcgi://localhost" in a
# FilesMatch, as mod_proxy_fcgi is configured) in front of site B's php-fpm
# pool, which runs with cgi.fix_pathinfo = 0: such a php-fpm runs the file
# PATH_TRANSLATED names, and mod_proxy_fcgi sends PATH_TRANSLATED =
# DOCUMENT_ROOT + PATH_INFO, so /s.php/private/other.php runs other.php,
# a file the client chose and nothing checked.  With the script check on
# (the default) the drop-in sends no PATH_TRANSLATED, as the pools do, and
# s.php runs.  (Under VF_MODULE=stock this file skips: stock has the hole.)
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(:all);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan tests => 7;

my $doc = site_doc('b');
my ($res, $env) = get_env('vf_site_b_dropin', '/s.php/a/b?q=1');
is($res->{status}, 200, 'drop-in /s.php/a/b answers 200') or diag(substr $res->{body}, 0, 500);
is($env->{X_FIX_PATHINFO}, '0', 'the backend runs with cgi.fix_pathinfo=0');
is($env->{SCRIPT_FILENAME}, "$doc/s.php", 'SCRIPT_FILENAME is the checked script');
is($env->{PATH_INFO}, '/a/b', 'PATH_INFO');
ok(!defined $env->{PATH_TRANSLATED}, 'no PATH_TRANSLATED')
    or diag("PATH_TRANSLATED=$env->{PATH_TRANSLATED}");

($res, $env) = get_env('vf_site_b_dropin', '/s.php/private/other.php');
ok($res->{status} == 200 && !marker_ran($res, 'OTHER-RAN'),
   '/s.php/private/other.php does not run other.php')
    or diag("$res->{status}: $res->{body}");
is($env->{X_SCRIPT}, 's.php', '... it runs s.php');
