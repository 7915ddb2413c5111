<?php
// An absolute Location: a client redirect (PHP adds "Status: 302").
header('Location: http://www.example.invalid/elsewhere.html');
