evaluate(new File(itScripts, 'fixtures.groovy'))
